/*-------------------------------------------------------------------------
 *
 * hash_aside.c
 *	  A SHA-256 computed on a thread of its own (hash_aside.h).
 *
 * A ring of SLOTS buffers: the owner fills the slot after the last one it
 * handed over, the thread hashes them in the order they were handed over.
 * handed and hashed count slots since the aside was made; handed - hashed
 * are waiting or being hashed, so the owner may fill slot handed % SLOTS
 * once fewer than SLOTS are.  Only the owner changes handed, only the
 * thread changes hashed, both under the lock; the thread touches the
 * SHA-256 context only while hashed < handed, which is why begin() and
 * final() first wait for hashed == handed.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash_aside.h"

#define SLOTS		4
#define SLOT_SIZE	(512 * 1024)

struct RvxHashAside
{
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* handed, hashed or stop changed */
	RvxSha256  *sha;
	uint8_t    *buf[SLOTS];
	size_t		len[SLOTS];
	uint64_t	handed;
	uint64_t	hashed;
	size_t		filled;			/* bytes in slot handed % SLOTS (the owner's) */
	bool		stop;
	bool		failed;			/* an update of the SHA-256 failed */
};

static void *
hash_thread(void *arg)
{
	RvxHashAside *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;)
	{
		int			slot;

		while (h->hashed == h->handed && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->hashed == h->handed)
			break;				/* stopped, nothing left */
		slot = (int) (h->hashed % SLOTS);
		pthread_mutex_unlock(&h->lock);

		if (rvx_sha256_update(h->sha, h->buf[slot], h->len[slot]) != 0)
			h->failed = true;	/* read by the owner after hashed == handed */

		pthread_mutex_lock(&h->lock);
		h->hashed++;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

RvxHashAside *
rvx_hash_aside_new(void)
{
	RvxHashAside *h = calloc(1, sizeof(RvxHashAside));

	if (h == NULL)
		return NULL;
	h->sha = rvx_sha256_new();
	for (int i = 0; i < SLOTS; i++)
		h->buf[i] = malloc(SLOT_SIZE);
	for (int i = 0; i < SLOTS; i++)
		if (h->buf[i] == NULL)
			goto fail;
	if (h->sha == NULL)
		goto fail;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, hash_thread, h) != 0)
	{
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		goto fail;
	}
	return h;

fail:
	for (int i = 0; i < SLOTS; i++)
		free(h->buf[i]);
	rvx_sha256_free(h->sha);
	free(h);
	return NULL;
}

/* Waits until the thread has hashed everything handed over. */
static void
wait_idle(RvxHashAside *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->hashed != h->handed)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

/* Gives the slot being filled to the thread. */
static void
hand_over(RvxHashAside *h)
{
	pthread_mutex_lock(&h->lock);
	h->len[h->handed % SLOTS] = h->filled;
	h->handed++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	h->filled = 0;
}

int
rvx_hash_aside_begin(RvxHashAside *h)
{
	if (h->filled > 0)
		hand_over(h);			/* a digest left unfinished: let it drain */
	wait_idle(h);
	h->failed = false;
	return rvx_sha256_init(h->sha);
}

int
rvx_hash_aside_update(RvxHashAside *h, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0)
	{
		size_t		n;

		if (h->filled == 0)
		{
			/* the slot is free once fewer than SLOTS are handed over */
			pthread_mutex_lock(&h->lock);
			while (h->handed - h->hashed >= SLOTS)
				pthread_cond_wait(&h->cond, &h->lock);
			pthread_mutex_unlock(&h->lock);
		}
		n = SLOT_SIZE - h->filled;
		if (n > len)
			n = len;
		memcpy(h->buf[h->handed % SLOTS] + h->filled, p, n);
		h->filled += n;
		p += n;
		len -= n;
		if (h->filled == SLOT_SIZE)
			hand_over(h);
	}
	return 0;
}

int
rvx_hash_aside_final(RvxHashAside *h, uint8_t out[RVX_SHA256_LEN])
{
	if (h->filled > 0)
		hand_over(h);
	wait_idle(h);
	if (h->failed)
		return -1;
	return rvx_sha256_final(h->sha, out);
}

void
rvx_hash_aside_free(RvxHashAside *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	for (int i = 0; i < SLOTS; i++)
		free(h->buf[i]);
	rvx_sha256_free(h->sha);
	free(h);
}
