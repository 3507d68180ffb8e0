/*-------------------------------------------------------------------------
 *
 * s3_xml.c
 *	  Reading S3's XML answers with libxml2 (see s3_xml.h).
 *
 * Each document is parsed whole into a tree: the largest one we read is a
 * ListObjectsV2 page of at most 1000 keys (a few hundred kB), so streaming
 * would buy nothing but code.  The parser runs with XML_PARSE_NONET, no
 * entity substitution, and a document that carries a DTD is refused
 * outright: S3 never sends one, and an internal subset is the only way to
 * smuggle in entity expansion.  Leading whitespace is skipped before
 * parsing because S3 keeps a slow CompleteMultipartUpload connection alive
 * by sending spaces ahead of the XML declaration.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/crypto.h>

#include "storage/s3_xml.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init(void)
{
	xmlInitParser();
}

/* libxml2 would otherwise print parse errors on stderr. */
static void
xml_quiet_generic(void *ctx, const char *msg,...)
{
}

/* libxml2 2.12 made the error passed to this callback const */
#if LIBXML_VERSION >= 21200
#define RVX_XML_ERROR const xmlError
#else
#define RVX_XML_ERROR xmlError
#endif

static void
xml_quiet_structured(void *ctx, RVX_XML_ERROR *error)
{
}

/* Parses body, or returns NULL if it is not a well-formed DTD-free document. */
static xmlDocPtr
xml_parse(const char *body, size_t len)
{
	xmlDocPtr	doc;

	pthread_once(&xml_once, xml_init);
	/* per thread in libxml2: set each time, it is cheap */
	xmlSetGenericErrorFunc(NULL, xml_quiet_generic);
	xmlSetStructuredErrorFunc(NULL, xml_quiet_structured);

	if (body == NULL)
		return NULL;
	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
	{
		body++;
		len--;
	}
	if (len == 0 || len > INT_MAX)
		return NULL;
	doc = xmlReadMemory(body, (int) len, "s3-response.xml", NULL,
						XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return NULL;
	if (doc->intSubset != NULL || doc->extSubset != NULL ||
		xmlDocGetRootElement(doc) == NULL)
	{
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool
is_element(xmlNodePtr node, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
		strcmp((const char *) node->name, name) == 0;
}

/* First child element called name, or NULL. */
static xmlNodePtr
child_element(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent->children; c != NULL; c = c->next)
		if (is_element(c, name))
			return c;
	return NULL;
}

/*
 * Text of the child element name as a malloc'd string (libc malloc, so the
 * caller frees with free()); NULL if there is no such child or no memory.
 * Only text and CDATA children count: an element is a leaf in S3's replies.
 */
static char *
child_text(xmlNodePtr parent, const char *name)
{
	xmlNodePtr	el = child_element(parent, name);
	size_t		len = 0;
	char	   *out;

	if (el == NULL)
		return NULL;
	for (xmlNodePtr t = el->children; t != NULL; t = t->next)
		if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content)
			len += strlen((const char *) t->content);
	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	out[0] = '\0';
	len = 0;
	for (xmlNodePtr t = el->children; t != NULL; t = t->next)
		if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content)
		{
			size_t		n = strlen((const char *) t->content);

			memcpy(out + len, t->content, n + 1);
			len += n;
		}
	return out;
}

/* Copies src into dst (size n) with control characters made blanks. */
static void
copy_printable(char *dst, size_t n, const char *src)
{
	size_t		i = 0;

	if (src != NULL)
		for (; src[i] != '\0' && i + 1 < n; i++)
		{
			unsigned char c = (unsigned char) src[i];

			dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
		}
	dst[i] = '\0';
}

static void
fill_error(xmlNodePtr root, RvxS3Error *out)
{
	char	   *code = child_text(root, "Code");
	char	   *message = child_text(root, "Message");

	copy_printable(out->code, sizeof(out->code), code ? code : "");
	copy_printable(out->message, sizeof(out->message), message ? message : "");
	free(code);
	free(message);
}

bool
rvx_s3_xml_error(const char *body, size_t len, RvxS3Error *out)
{
	xmlDocPtr	doc;
	xmlNodePtr	root;
	bool		found = false;

	out->code[0] = '\0';
	out->message[0] = '\0';
	doc = xml_parse(body, len);
	if (doc == NULL)
		return false;
	root = xmlDocGetRootElement(doc);
	/* the query APIs (STS) wrap it: <ErrorResponse><Error>...</Error></ErrorResponse> */
	if (is_element(root, "ErrorResponse"))
		root = child_element(root, "Error");
	if (is_element(root, "Error"))
	{
		fill_error(root, out);
		found = true;
	}
	xmlFreeDoc(doc);
	return found;
}

/* Wipes the text below el: libxml2 frees without clearing, and this is a secret. */
static void
cleanse_text(xmlNodePtr el)
{
	for (xmlNodePtr c = el ? el->children : NULL; c != NULL; c = c->next)
	{
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			OPENSSL_cleanse(c->content, strlen((const char *) c->content));
		else if (c->type == XML_ELEMENT_NODE)
			cleanse_text(c);
	}
}

int
rvx_s3_xml_sts_credentials(const char *body, size_t len, const char *action,
						   RvxS3XmlCredentials *out)
{
	xmlDocPtr	doc;
	xmlNodePtr	el;
	char		name[128];

	memset(out, 0, sizeof(*out));
	doc = xml_parse(body, len);
	if (doc == NULL)
		return -1;
	el = xmlDocGetRootElement(doc);
	snprintf(name, sizeof(name), "%sResponse", action);
	if (!is_element(el, name))
	{
		xmlFreeDoc(doc);
		return -1;
	}
	snprintf(name, sizeof(name), "%sResult", action);
	el = child_element(el, name);
	el = el ? child_element(el, "Credentials") : NULL;
	if (el != NULL)
	{
		out->access_key = child_text(el, "AccessKeyId");
		out->secret_key = child_text(el, "SecretAccessKey");
		out->session_token = child_text(el, "SessionToken");
		out->expiration = child_text(el, "Expiration");
		cleanse_text(el);
	}
	xmlFreeDoc(doc);
	return el != NULL ? 0 : -1;
}

/* Parses a decimal size; -1 on anything else, including overflow. */
static int
parse_size(const char *s, uint64_t *out)
{
	char	   *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (uint64_t) v;
	return 0;
}

int
rvx_s3_xml_list(const char *body, size_t len, RvxS3ListEntryFn fn, void *arg,
				RvxS3ListPage *page, RvxError *err)
{
	xmlDocPtr	doc;
	xmlNodePtr	root;
	char	   *truncated;
	int			rc = 0;

	page->truncated = false;
	page->next_token = NULL;
	page->nkeys = 0;

	doc = xml_parse(body, len);
	if (doc == NULL)
		return rvx_error(err, RVX_E_PROTOCOL,
						 "could not parse listing: not a well-formed XML document");
	root = xmlDocGetRootElement(doc);
	if (!is_element(root, "ListBucketResult"))
	{
		rc = rvx_error(err, RVX_E_PROTOCOL,
					   "could not parse listing: expected <ListBucketResult>, got <%.64s>",
					   (const char *) root->name);
		goto done;
	}

	truncated = child_text(root, "IsTruncated");
	page->truncated = truncated != NULL && strcmp(truncated, "true") == 0;
	free(truncated);

	for (xmlNodePtr c = root->children; c != NULL && rc == 0; c = c->next)
	{
		char	   *key;
		char	   *sizestr;
		uint64_t	size = 0;

		if (!is_element(c, "Contents"))
			continue;
		key = child_text(c, "Key");
		sizestr = child_text(c, "Size");
		if (key == NULL || key[0] == '\0' || parse_size(sizestr, &size) != 0)
			rc = rvx_error(err, RVX_E_PROTOCOL,
						   "could not parse listing: <Contents> without a valid <Key> and <Size>");
		else
		{
			rc = fn(arg, key, size);
			if (rc == 0 || rc == 1)
				page->nkeys++;
		}
		free(key);
		free(sizestr);
	}

	if (rc == 0 && page->truncated)
	{
		page->next_token = child_text(root, "NextContinuationToken");
		if (page->next_token == NULL || page->next_token[0] == '\0')
		{
			free(page->next_token);
			page->next_token = NULL;
			rc = rvx_error(err, RVX_E_PROTOCOL,
						   "could not parse listing: truncated page without <NextContinuationToken>");
		}
	}

done:
	xmlFreeDoc(doc);
	return rc;
}

char *
rvx_s3_xml_upload_id(const char *body, size_t len, RvxError *err)
{
	xmlDocPtr	doc = xml_parse(body, len);
	xmlNodePtr	root;
	char	   *id = NULL;

	if (doc == NULL)
	{
		rvx_error(err, RVX_E_PROTOCOL,
				  "could not parse multipart upload reply: not a well-formed XML document");
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	if (is_element(root, "InitiateMultipartUploadResult"))
		id = child_text(root, "UploadId");
	if (id == NULL || id[0] == '\0')
	{
		free(id);
		id = NULL;
		rvx_error(err, RVX_E_PROTOCOL,
				  "could not parse multipart upload reply: no <UploadId> in <%.64s>",
				  (const char *) root->name);
	}
	xmlFreeDoc(doc);
	return id;
}

int
rvx_s3_xml_complete(const char *body, size_t len, RvxS3Error *s3err, RvxError *err)
{
	xmlDocPtr	doc = xml_parse(body, len);
	xmlNodePtr	root;
	int			rc;

	s3err->code[0] = '\0';
	s3err->message[0] = '\0';
	if (doc == NULL)
		return rvx_error(err, RVX_E_PROTOCOL,
						 "could not parse multipart completion reply: not a well-formed XML document");
	root = xmlDocGetRootElement(doc);
	if (is_element(root, "CompleteMultipartUploadResult"))
		rc = 0;
	else if (is_element(root, "Error"))
	{
		fill_error(root, s3err);
		rc = 1;
	}
	else
		rc = rvx_error(err, RVX_E_PROTOCOL,
					   "could not parse multipart completion reply: expected <CompleteMultipartUploadResult>, got <%.64s>",
					   (const char *) root->name);
	xmlFreeDoc(doc);
	return rc;
}

int
rvx_s3_xml_escape(const char *text, char *out, size_t outlen)
{
	size_t		o = 0;

	for (const char *p = text; *p; p++)
	{
		const char *rep;
		char		one[2] = {*p, '\0'};
		size_t		n;

		switch (*p)
		{
			case '&':
				rep = "&amp;";
				break;
			case '<':
				rep = "&lt;";
				break;
			case '>':
				rep = "&gt;";
				break;
			case '"':
				rep = "&quot;";
				break;
			case '\'':
				rep = "&apos;";
				break;
			default:
				rep = one;
				break;
		}
		n = strlen(rep);
		if (o + n + 1 > outlen)
			return -1;
		memcpy(out + o, rep, n);
		o += n;
	}
	if (o + 1 > outlen)
		return -1;
	out[o] = '\0';
	return (int) o;
}
