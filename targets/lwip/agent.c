/*
 * lwIP agent: lwIP 2.1.3 (Debian liblwip-dev, contrib unix port) on a tap device, driven over a pipe.
 *
 * The harness writes one JSON request per line on stdin:
 *     {"id": 1, "op": "recv", "args": {"sock": 3, "len": 100, "flags": ["DONTWAIT"]}}
 * and reads one JSON line per result on stdout:
 *     {"id": 1, "raw": -1, "errno": 11, "errname": "EAGAIN", "data": "", "t0": ..., "t": ...}
 * plus {"event": ...} lines ("ready" once lwIP is up, "state" when a socket's TCP state changes).
 * Every call runs in its own thread so a blocking recv/accept/connect can be pending while other
 * calls run. `t0`/`t` are CLOCK_REALTIME when the call started/returned, the clock the kernel stamps
 * captured frames with. The protocol is harness/wire/agent_protocol.md.
 *
 * Start-up follows the measured recipe (shared/research/wire-feasibility.md, Task 3): the unix port
 * is NO_SYS=0 with core locking, so netif_* calls run under LOCK_TCPIP_CORE (a violation is an
 * assert, and asserts abort); the MAC is replaced after netif_add and before netif_set_up. Only
 * lwip_* names exist (LWIP_COMPAT_SOCKETS 0) and there is no lwip_select.
 *
 * The tap driver is this file's, not the unix port's tapif: Debian's liblwip 2.1.3+dfsg1-2 sizes a
 * PBUF_POOL element for a 536-byte MSS (616-byte blocks) while its pbuf_alloc fills them for 1460,
 * so tapif's PBUF_POOL input wrote past the block on every frame longer than about 600 bytes
 * (valgrind: "Invalid write ... pbuf_take ... 0 bytes after a block of size 616"); a fuzz campaign
 * of such frames ended in malloc aborting. Frames here go into PBUF_RAM pbufs of their own length.
 *
 * Environment: PRECONFIGURED_TAPIF (tap name, required), LWIP_IP, LWIP_NETMASK, LWIP_GW, LWIP_MAC;
 * `--tap NAME`, `--ip A`, `--mac M` arguments override them.
 *
 * Malformed input never crashes the agent: a line that is not a well-formed request gets
 * {"id": <id or null>, "fatal": "..."} and the agent reads on; an unknown op or option is an
 * ordinary failed call (ENOSYS, ENOPROTOOPT).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lwip/api.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/sys.h"
#include "lwip/priv/sockets_priv.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "netif/etharp.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#define AGENT_VERSION "1"
#define MAX_LINE (4u << 20)      /* 4 MiB: a 1 MiB send as hex, with room to spare */
#define MAX_IO (1u << 20)        /* largest send/recv buffer the agent will allocate */
#define MAX_NODES 512            /* requests are flat; anything bigger is not ours */
#define MAX_DEPTH 8

/* ---------------------------------------------------------------------------------------------- */
/* Output: one writer at a time, every line flushed at once so the harness sees it immediately.    */

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
/* The protocol's stream: a duplicate of the original stdout. fd 1 itself is pointed at stderr, because
 * lwIP's unix port prints its assertion messages with printf, and a stray
 * line on the protocol stream would be misread; on stderr the harness shows it when the agent dies. */
static FILE *proto;

struct buf {
  char *p;
  size_t len, cap;
  int oom;
};

static void buf_grow(struct buf *b, size_t more) {
  if (b->oom || b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) { b->oom = 1; return; }
  b->p = p;
  b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n) {
  buf_grow(b, n);
  if (b->oom) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) { buf_add(b, small, (size_t)n); return; }
  buf_grow(b, (size_t)n);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void buf_json_string(struct buf *b, const char *s) {
  buf_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; buf_add(b, e, 2); }
    else if (c < 0x20) buf_printf(b, "\\u%04x", c);
    else buf_add(b, (const char *)&c, 1);
  }
  buf_add(b, "\"", 1);
}

static void buf_hex(struct buf *b, const unsigned char *data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  buf_grow(b, 2 * n + 2);
  if (b->oom) return;
  b->p[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    b->p[b->len++] = digits[data[i] >> 4];
    b->p[b->len++] = digits[data[i] & 15];
  }
  b->p[b->len++] = '"';
  b->p[b->len] = 0;
}

static void buf_time(struct buf *b, const char *key, const struct timespec *ts) {
  buf_printf(b, ",\"%s\":%lld.%09ld", key, (long long)ts->tv_sec, ts->tv_nsec);
}

static void emit(struct buf *b) {
  if (b->oom) {
    /* Say so rather than die: the harness then reports the call as broken, not the agent. */
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    buf_printf(b, "{\"event\":\"error\",\"message\":\"out of memory building a response\"}");
  }
  buf_add(b, "\n", 1);
  pthread_mutex_lock(&out_lock);
  fwrite(b->p, 1, b->len, proto);
  fflush(proto);
  pthread_mutex_unlock(&out_lock);
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static void now_real(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

static void emit_error(int has_id, long long id, const char *message) {
  struct buf b = {0};
  struct timespec t;
  now_real(&t);
  if (has_id) buf_printf(&b, "{\"id\":%lld,\"fatal\":", id);
  else buf_printf(&b, "{\"id\":null,\"fatal\":");
  buf_json_string(&b, message);
  buf_time(&b, "t", &t);
  buf_add(&b, "}", 1);
  emit(&b);
}

/* ---------------------------------------------------------------------------------------------- */
/* A small JSON parser. Requests are flat and machine-written, but a line may be anything, so the  */
/* parser checks every byte, bounds depth and node count, and never reads past the line.          */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
  enum jtype type;
  int boolean;
  double num;
  char *str;              /* decoded, NUL-terminated (J_STR); key of an object member (key) */
  size_t len;
  char *key;
  struct jnode *child;    /* first element / member */
  struct jnode *next;     /* next sibling */
};

struct jparser {
  const char *p, *end;
  struct jnode *nodes;
  int used;
  char *strings;          /* decoded strings; never longer than the line */
  size_t spos;
  const char *err;
};

static void skip_ws(struct jparser *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')) j->p++;
}

static struct jnode *new_node(struct jparser *j, enum jtype t) {
  if (j->used >= MAX_NODES) { j->err = "request too large"; return NULL; }
  struct jnode *n = &j->nodes[j->used++];
  memset(n, 0, sizeof *n);
  n->type = t;
  return n;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put_utf8(struct jparser *j, unsigned cp) {
  char *o = j->strings + j->spos;
  if (cp < 0x80) { o[0] = (char)cp; j->spos += 1; }
  else if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); j->spos += 2; }
  else {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    j->spos += 3;
  }
}

/* Decoded output is never longer than the escaped input: "\uXXXX" (6 bytes) becomes at most 3. */
static char *parse_string(struct jparser *j, size_t *len) {
  if (j->p >= j->end || *j->p != '"') { j->err = "expected a string"; return NULL; }
  j->p++;
  char *start = j->strings + j->spos;
  while (j->p < j->end && *j->p != '"') {
    unsigned char c = (unsigned char)*j->p++;
    if (c < 0x20) { j->err = "control character in a string"; return NULL; }
    if (c != '\\') { j->strings[j->spos++] = (char)c; continue; }
    if (j->p >= j->end) break;
    char e = *j->p++;
    switch (e) {
      case '"': case '\\': case '/': j->strings[j->spos++] = e; break;
      case 'b': j->strings[j->spos++] = '\b'; break;
      case 'f': j->strings[j->spos++] = '\f'; break;
      case 'n': j->strings[j->spos++] = '\n'; break;
      case 'r': j->strings[j->spos++] = '\r'; break;
      case 't': j->strings[j->spos++] = '\t'; break;
      case 'u': {
        if (j->end - j->p < 4) { j->err = "bad \\u escape"; return NULL; }
        unsigned cp = 0;
        for (int i = 0; i < 4; i++) {
          int h = hexval((unsigned char)j->p[i]);
          if (h < 0) { j->err = "bad \\u escape"; return NULL; }
          cp = cp * 16 + (unsigned)h;
        }
        j->p += 4;
        /* No request field needs characters outside the BMP or a NUL; refuse them plainly. */
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) { j->err = "unsupported \\u escape"; return NULL; }
        put_utf8(j, cp);
        break;
      }
      default: j->err = "bad escape in a string"; return NULL;
    }
  }
  if (j->p >= j->end) { j->err = "unterminated string"; return NULL; }
  j->p++;
  *len = (size_t)(j->strings + j->spos - start);
  j->strings[j->spos++] = 0;
  return start;
}

static struct jnode *parse_value(struct jparser *j, int depth);

static struct jnode *parse_number(struct jparser *j) {
  /* JSON's grammar, checked by hand so strtod never sees "nan", "0x10" or "  1". */
  const char *s = j->p;
  if (s < j->end && *s == '-') s++;
  if (s >= j->end || !isdigit((unsigned char)*s)) { j->err = "bad number"; return NULL; }
  if (*s == '0') s++;
  else while (s < j->end && isdigit((unsigned char)*s)) s++;
  if (s < j->end && *s == '.') {
    s++;
    if (s >= j->end || !isdigit((unsigned char)*s)) { j->err = "bad number"; return NULL; }
    while (s < j->end && isdigit((unsigned char)*s)) s++;
  }
  if (s < j->end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < j->end && (*s == '+' || *s == '-')) s++;
    if (s >= j->end || !isdigit((unsigned char)*s)) { j->err = "bad number"; return NULL; }
    while (s < j->end && isdigit((unsigned char)*s)) s++;
  }
  char tmp[64];
  size_t n = (size_t)(s - j->p);
  if (n >= sizeof tmp) { j->err = "number too long"; return NULL; }
  memcpy(tmp, j->p, n);
  tmp[n] = 0;
  struct jnode *node = new_node(j, J_NUM);
  if (!node) return NULL;
  node->num = strtod(tmp, NULL);
  if (!(node->num > -1e300 && node->num < 1e300)) { j->err = "number out of range"; return NULL; }
  j->p = s;
  return node;
}

static int literal(struct jparser *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return 0;
  j->p += n;
  return 1;
}

static struct jnode *parse_container(struct jparser *j, int depth, int is_obj) {
  struct jnode *node = new_node(j, is_obj ? J_OBJ : J_ARR);
  if (!node) return NULL;
  char close = is_obj ? '}' : ']';
  j->p++;
  skip_ws(j);
  if (j->p < j->end && *j->p == close) { j->p++; return node; }
  struct jnode **tail = &node->child;
  for (;;) {
    char *key = NULL;
    size_t klen;
    if (is_obj) {
      skip_ws(j);
      key = parse_string(j, &klen);
      if (!key) return NULL;
      skip_ws(j);
      if (j->p >= j->end || *j->p != ':') { j->err = "expected ':'"; return NULL; }
      j->p++;
    }
    struct jnode *child = parse_value(j, depth + 1);
    if (!child) return NULL;
    child->key = key;
    *tail = child;
    tail = &child->next;
    skip_ws(j);
    if (j->p < j->end && *j->p == ',') { j->p++; continue; }
    if (j->p < j->end && *j->p == close) { j->p++; return node; }
    j->err = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
    return NULL;
  }
}

static struct jnode *parse_value(struct jparser *j, int depth) {
  if (depth > MAX_DEPTH) { j->err = "nested too deeply"; return NULL; }
  skip_ws(j);
  if (j->p >= j->end) { j->err = "unexpected end of line"; return NULL; }
  char c = *j->p;
  if (c == '{' || c == '[') return parse_container(j, depth, c == '{');
  if (c == '"') {
    struct jnode *node = new_node(j, J_STR);
    if (!node) return NULL;
    node->str = parse_string(j, &node->len);
    return node->str ? node : NULL;
  }
  if (c == '-' || isdigit((unsigned char)c)) return parse_number(j);
  if (literal(j, "true")) { struct jnode *n = new_node(j, J_BOOL); if (n) n->boolean = 1; return n; }
  if (literal(j, "false")) return new_node(j, J_BOOL);
  if (literal(j, "null")) return new_node(j, J_NULL);
  j->err = "unexpected character";
  return NULL;
}

static struct jnode *member(const struct jnode *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (struct jnode *n = obj->child; n; n = n->next)
    if (strcmp(n->key, key) == 0) return n;
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Requests                                                                                        */

enum op {
  OP_HELLO, OP_CONFIGURE, OP_SOCKET, OP_BIND, OP_LISTEN, OP_ACCEPT, OP_CONNECT, OP_SEND, OP_RECV,
  OP_SHUTDOWN, OP_CLOSE, OP_SETSOCKOPT, OP_GETSOCKOPT, OP_ISCONNECTED, OP_TCPSTATE, OP_GETPEERNAME,
  OP_SLEEP, OP_UNKNOWN,
};

static const struct { const char *name; enum op op; } OPS[] = {
  {"hello", OP_HELLO}, {"configure", OP_CONFIGURE}, {"socket", OP_SOCKET}, {"bind", OP_BIND},
  {"listen", OP_LISTEN}, {"accept", OP_ACCEPT}, {"connect", OP_CONNECT}, {"send", OP_SEND},
  {"recv", OP_RECV}, {"shutdown", OP_SHUTDOWN}, {"closesocket", OP_CLOSE}, {"close", OP_CLOSE},
  {"setsockopt", OP_SETSOCKOPT}, {"getsockopt", OP_GETSOCKOPT}, {"issocketconnected", OP_ISCONNECTED},
  {"tcpstate", OP_TCPSTATE}, {"getpeername", OP_GETPEERNAME}, {"sleep", OP_SLEEP},
};

/* Socket options this build supports. The protocol's names come first; the BSD spellings are
 * accepted too. The numbers are glibc's, because Debian builds lwIP with
 * LWIP_SOCKET_EXTERNAL_HEADERS. Anything else (SNDBUF, RCVBUF: not compiled in; FreeRTOS-only
 * options such as REUSE_LISTEN_SOCKET) is an ordinary failure with ENOPROTOOPT. */
enum optkind { O_INT, O_BOOL, O_TIMEVAL, O_LINGER };
static const struct { const char *name; int level, optname; enum optkind kind; } OPTIONS[] = {
  {"RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, O_TIMEVAL},
  {"SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, O_TIMEVAL},
  {"KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, O_BOOL},
  {"KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, O_INT},
  {"KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, O_INT},
  {"KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, O_INT},
  {"NODELAY", IPPROTO_TCP, TCP_NODELAY, O_BOOL},
  {"REUSEADDR", SOL_SOCKET, SO_REUSEADDR, O_BOOL},
  {"LINGER", SOL_SOCKET, SO_LINGER, O_LINGER},
  {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, O_TIMEVAL},
  {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, O_TIMEVAL},
  {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, O_BOOL},
  {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, O_INT},
  {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, O_INT},
  {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, O_INT},
  {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, O_BOOL},
  {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, O_BOOL},
  {"SO_LINGER", SOL_SOCKET, SO_LINGER, O_LINGER},
};

enum vkind { V_NONE, V_NULL, V_NUM, V_BOOL };

struct keepalive { int set, on, idle, interval, count; };

struct request {
  long long id;
  enum op op;
  char op_name[32];
  int sock;
  int port;
  int backlog;
  long len;
  int flags;
  int how;
  char ip[INET_ADDRSTRLEN];
  int option;             /* index into OPTIONS, or -1: unsupported (answered with ENOPROTOOPT) */
  enum vkind vkind;
  double value;
  unsigned char *data;
  size_t data_len;
  double seconds;
  struct keepalive keepalive;
};

/* No libm: the build line is the brief's, and whole-number checks need nothing more than this. */
static int is_whole(double d) { return d > -9e18 && d < 9e18 && d == (double)(long long)d; }
static double floor_pos(double d) { return (double)(long long)d; }  /* d >= 0 only */

static int as_int(const struct jnode *n, long lo, long hi, long *out) {
  if (!n || n->type != J_NUM || !is_whole(n->num) || n->num < (double)lo || n->num > (double)hi) return 0;
  *out = (long)n->num;
  return 1;
}

/* keepalive: {"on": bool, "idle": s, "interval": s, "count": n} or null (off). lwIP takes whole
 * seconds for TCP_KEEPIDLE/TCP_KEEPINTVL, so fractions are rounded up (never probe early). */
static const char *parse_keepalive(const struct jnode *n, struct keepalive *k) {
  memset(k, 0, sizeof *k);
  k->set = 1;
  if (n->type == J_NULL) return NULL;
  if (n->type != J_OBJ) return "keepalive must be an object or null";
  const struct jnode *on = member(n, "on");
  if (on && on->type != J_BOOL) return "keepalive.on must be a boolean";
  k->on = on ? on->boolean : 1;
  static const char *keys[] = {"idle", "interval", "count"};
  int *slots[] = {&k->idle, &k->interval, &k->count};
  for (int i = 0; i < 3; i++) {
    const struct jnode *v = member(n, keys[i]);
    if (!v || v->type == J_NULL) continue;
    if (v->type != J_NUM || v->num <= 0 || v->num > 86400 * 24) return "keepalive values must be positive numbers";
    double up = floor_pos(v->num);
    *slots[i] = (int)(up < v->num ? up + 1 : up);
  }
  return NULL;
}

/* Fills `r` from `root`; returns NULL or what is wrong with the request. */
static const char *build_request(const struct jnode *root, struct request *r) {
  long v;
  memset(r, 0, sizeof *r);
  r->option = -1;
  if (!root || root->type != J_OBJ) return "a request is a JSON object";
  if (!as_int(member(root, "id"), 1, LLONG_MAX >> 11, &v)) return "id must be a positive integer";
  r->id = v;
  const struct jnode *op = member(root, "op");
  if (!op || op->type != J_STR || op->len == 0) return "op must be a non-empty string";
  snprintf(r->op_name, sizeof r->op_name, "%s", op->str);
  r->op = OP_UNKNOWN;
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (strcmp(OPS[i].name, op->str) == 0) r->op = OPS[i].op;
  const struct jnode *args = member(root, "args");
  if (args && args->type == J_NULL) args = NULL;
  if (args && args->type != J_OBJ) return "args must be an object";
  if (r->op == OP_UNKNOWN) return NULL;  /* answered as a failed call (ENOSYS), not refused */

  const struct jnode *n;
  int needs_sock = r->op != OP_HELLO && r->op != OP_CONFIGURE && r->op != OP_SOCKET && r->op != OP_SLEEP;
  if ((n = member(args, "sock"))) {
    if (!as_int(n, INT_MIN, INT_MAX, &v)) return "sock must be an integer";
    r->sock = (int)v;
  } else if (needs_sock) return "sock is required";

  if ((n = member(args, "port"))) {
    if (!as_int(n, 0, 65535, &v)) return "port must be an integer 0..65535";
    r->port = (int)v;
  } else if (r->op == OP_CONNECT) return "port is required";

  snprintf(r->ip, sizeof r->ip, "%s", "0.0.0.0");
  if ((n = member(args, "ip"))) {
    struct in_addr tmp;
    if (n->type != J_STR || n->len >= sizeof r->ip || inet_pton(AF_INET, n->str, &tmp) != 1)
      return "ip must be a dotted IPv4 address";
    snprintf(r->ip, sizeof r->ip, "%s", n->str);
  } else if (r->op == OP_CONNECT) return "ip is required";

  r->backlog = 4;
  if ((n = member(args, "backlog"))) {
    if (!as_int(n, 0, 255, &v)) return "backlog must be an integer 0..255";
    r->backlog = (int)v;
  }

  r->len = 1460 * 4;
  if ((n = member(args, "len"))) {
    if (!as_int(n, 0, MAX_IO, &v)) return "len must be an integer 0..1048576";
    r->len = v;
  }

  if ((n = member(args, "flags")) && n->type != J_NULL) {
    if (n->type != J_ARR) return "flags must be a list of names";
    for (const struct jnode *f = n->child; f; f = f->next) {
      if (f->type != J_STR) return "flags must be a list of names";
      if (!strcmp(f->str, "DONTWAIT")) r->flags |= MSG_DONTWAIT;
      else if (!strcmp(f->str, "PEEK")) r->flags |= MSG_PEEK;
      else if (!strcmp(f->str, "MORE")) r->flags |= MSG_MORE;
      else return "unknown flag (DONTWAIT, PEEK, MORE)";
    }
  }

  r->how = SHUT_RDWR;
  if ((n = member(args, "how"))) {
    if (n->type != J_STR) return "how must be RD, WR or RDWR";
    if (!strcmp(n->str, "RD")) r->how = SHUT_RD;
    else if (!strcmp(n->str, "WR")) r->how = SHUT_WR;
    else if (!strcmp(n->str, "RDWR")) r->how = SHUT_RDWR;
    else return "how must be RD, WR or RDWR";
  }

  if ((n = member(args, "data"))) {
    if (n->type != J_STR || n->len % 2) return "data must be a hex string";
    r->data_len = n->len / 2;
    if (r->data_len > MAX_IO) return "data too long";
    r->data = malloc(r->data_len ? r->data_len : 1);
    if (!r->data) return "out of memory";
    for (size_t k = 0; k < r->data_len; k++) {
      int hi = hexval((unsigned char)n->str[2 * k]), lo = hexval((unsigned char)n->str[2 * k + 1]);
      if (hi < 0 || lo < 0) return "data must be a hex string";
      r->data[k] = (unsigned char)(hi * 16 + lo);
    }
  } else if (r->op == OP_SEND) return "data is required";

  if ((n = member(args, "option"))) {
    if (n->type != J_STR) return "option must be a name such as RCVTIMEO";
    for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++)
      if (!strcmp(OPTIONS[k].name, n->str)) r->option = (int)k;
  } else if (r->op == OP_SETSOCKOPT || r->op == OP_GETSOCKOPT) return "option is required";

  r->vkind = V_NONE;
  if ((n = member(args, "value"))) {
    if (n->type == J_NULL) r->vkind = V_NULL;
    else if (n->type == J_BOOL) { r->vkind = V_BOOL; r->value = n->boolean; }
    else if (n->type == J_NUM) { r->vkind = V_NUM; r->value = n->num; }
    /* Other shapes (a FreeRTOS option's struct) only matter for options refused anyway. */
  } else if (r->op == OP_SETSOCKOPT) return "value is required";

  if ((n = member(args, "seconds"))) {
    if (n->type != J_NUM || n->num < 0 || n->num > 3600) return "seconds must be 0..3600";
    r->seconds = n->num;
  }

  if ((n = member(args, "keepalive"))) {
    const char *problem = parse_keepalive(n, &r->keepalive);
    if (problem) return problem;
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sockets the agent knows, their TCP state, and state-change events                               */

#define MAX_TRACKED 256
#define MONITOR_PERIOD_US 1000

/* Everything below reads lwIP internals (priv/sockets_priv.h): the socket API has no state query
 * (no TCP_INFO). track_lock is always taken before lwIP's own locks, and a socket leaves the table
 * before lwip_close frees it, so no reader ever touches a freed netconn. */
static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { int sock; int state; } tracked[MAX_TRACKED];
static int n_tracked;
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keepalive keepalive_config;

#define NO_PCB (-2)
#define NO_SOCKET (-1)

static const char *state_name(int st) {
  static const char *names[] = {"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
                                "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"};
  if (st == NO_PCB) return "CLOSED";  /* lwIP freed the pcb: RST, abort, or a finished close */
  return st >= 0 && st <= 10 ? names[st] : "UNKNOWN";
}

/* The lwIP TCP state of socket `fd`; NO_SOCKET or NO_PCB. Caller holds track_lock. */
static int tcp_state_locked(int fd) {
  struct lwip_sock *s;
  struct netconn *conn;
  SYS_ARCH_DECL_PROTECT(lev);
  /* The socket table is guarded by SYS_ARCH_PROTECT, the pcbs by the core lock; taking them one
   * after the other (never nested) keeps clear of the tcpip thread's order (core, then protect). */
  SYS_ARCH_PROTECT(lev);
  s = lwip_socket_dbg_get_socket(fd);
  conn = s ? s->conn : NULL;
  SYS_ARCH_UNPROTECT(lev);
  if (!s) return NO_SOCKET;
  if (!conn) return NO_PCB;
  int st = NO_PCB;
  LOCK_TCPIP_CORE();
  if (NETCONNTYPE_GROUP(conn->type) == NETCONN_TCP && conn->pcb.tcp) st = (int)conn->pcb.tcp->state;
  UNLOCK_TCPIP_CORE();
  return st;
}

static int tcp_state(int fd) {
  pthread_mutex_lock(&track_lock);
  int st = tcp_state_locked(fd);
  pthread_mutex_unlock(&track_lock);
  return st;
}

static void emit_state(int sock, int from, int to) {
  struct buf b = {0};
  struct timespec t;
  now_real(&t);
  buf_printf(&b, "{\"event\":\"state\"");
  buf_time(&b, "t", &t);
  buf_printf(&b, ",\"sock\":%d,\"text\":\"%s -> %s\"}", sock, state_name(from), state_name(to));
  emit(&b);
}

static void track(int sock) {
  pthread_mutex_lock(&track_lock);
  if (n_tracked < MAX_TRACKED) {
    tracked[n_tracked].sock = sock;
    tracked[n_tracked].state = tcp_state_locked(sock);
    n_tracked++;
  }
  pthread_mutex_unlock(&track_lock);
}

static void untrack(int sock) {
  pthread_mutex_lock(&track_lock);
  for (int i = 0; i < n_tracked; i++)
    if (tracked[i].sock == sock) tracked[i--] = tracked[--n_tracked];
  pthread_mutex_unlock(&track_lock);
}

/* Polls every tracked socket each millisecond and reports changes: diagnostics for the ladder
 * (the harness never bases a verdict on events), so 1 ms resolution is plenty. */
static void *monitor_thread(void *arg) {
  (void)arg;
  for (;;) {
    usleep(MONITOR_PERIOD_US);
    pthread_mutex_lock(&track_lock);
    for (int i = 0; i < n_tracked; i++) {
      int st = tcp_state_locked(tracked[i].sock);
      if (st != tracked[i].state) {
        emit_state(tracked[i].sock, tracked[i].state, st);
        tracked[i].state = st;
      }
    }
    pthread_mutex_unlock(&track_lock);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Calls                                                                                           */

static void sockaddr_for(struct sockaddr_in *sa, const char *ip, int port) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &sa->sin_addr);
}

static int set_int(int sock, int level, int name, int value) {
  return lwip_setsockopt(sock, level, name, &value, sizeof value);
}

/* What `configure` asked for, applied to a new or accepted socket (FreeRTOS applies
 * ipconfigTCP_KEEP_ALIVE to every socket; lwIP's accepted pcb inherits SO_KEEPALIVE but not the
 * idle/interval/count, so both get all four). */
static int apply_config(int sock) {
  struct keepalive k;
  pthread_mutex_lock(&config_lock);
  k = keepalive_config;
  pthread_mutex_unlock(&config_lock);
  if (!k.on) return 0;
  if (set_int(sock, SOL_SOCKET, SO_KEEPALIVE, 1) != 0) return -1;
  if (k.idle && set_int(sock, IPPROTO_TCP, TCP_KEEPIDLE, k.idle) != 0) return -1;
  if (k.interval && set_int(sock, IPPROTO_TCP, TCP_KEEPINTVL, k.interval) != 0) return -1;
  if (k.count && set_int(sock, IPPROTO_TCP, TCP_KEEPCNT, k.count) != 0) return -1;
  return 0;
}

static int set_option(const struct request *r) {
  int k = r->option;
  if (k < 0) { errno = ENOPROTOOPT; return -1; }
  switch (OPTIONS[k].kind) {
    case O_TIMEVAL: {
      /* Seconds, or null: block for ever (BSD's zero timeval). lwIP counts whole milliseconds and
       * reads 0 ms as "for ever", so a positive timeout under 1 ms (and FreeRTOS's 0, "do not
       * block") becomes 1 ms: the closest this stack can do. */
      if (r->vkind != V_NULL && r->vkind != V_NUM) { errno = EINVAL; return -1; }
      double s = r->vkind == V_NULL ? 0.0 : r->value;
      if (s < 0 || s > 1e6) { errno = EINVAL; return -1; }
      struct timeval tv = {.tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - floor_pos(s)) * 1e6)};
      if (r->vkind == V_NUM && tv.tv_sec == 0 && tv.tv_usec < 1000) tv.tv_usec = 1000;
      return lwip_setsockopt(r->sock, OPTIONS[k].level, OPTIONS[k].optname, &tv, sizeof tv);
    }
    case O_LINGER: {
      struct linger l = {0, 0};
      if (r->vkind == V_NUM) {
        if (r->value < 0 || r->value > 65535) { errno = EINVAL; return -1; }
        l.l_onoff = 1;
        l.l_linger = (int)r->value;
      }
      return lwip_setsockopt(r->sock, OPTIONS[k].level, OPTIONS[k].optname, &l, sizeof l);
    }
    case O_BOOL:
    case O_INT: {
      if ((r->vkind != V_NUM && r->vkind != V_BOOL) || !is_whole(r->value) || r->value < INT_MIN ||
          r->value > INT_MAX) {
        errno = EINVAL;
        return -1;
      }
      return set_int(r->sock, OPTIONS[k].level, OPTIONS[k].optname, (int)r->value);
    }
  }
  errno = ENOPROTOOPT;
  return -1;
}

static int get_option(const struct request *r, struct buf *extra) {
  int k = r->option;
  if (k < 0) { errno = ENOPROTOOPT; return -1; }
  union { int i; struct timeval tv; struct linger l; } u;
  memset(&u, 0, sizeof u);
  socklen_t len = OPTIONS[k].kind == O_TIMEVAL ? sizeof u.tv : OPTIONS[k].kind == O_LINGER ? sizeof u.l : sizeof u.i;
  int rc = lwip_getsockopt(r->sock, OPTIONS[k].level, OPTIONS[k].optname, &u, &len);
  if (rc != 0) return rc;
  switch (OPTIONS[k].kind) {
    case O_TIMEVAL: buf_printf(extra, ",\"value\":%.6f", (double)u.tv.tv_sec + u.tv.tv_usec / 1e6); break;
    case O_LINGER:
      if (u.l.l_onoff) buf_printf(extra, ",\"value\":%d", u.l.l_linger);
      else buf_printf(extra, ",\"value\":null");
      break;
    case O_BOOL: buf_printf(extra, ",\"value\":%s", u.i ? "true" : "false"); break;
    case O_INT: buf_printf(extra, ",\"value\":%d", u.i); break;
  }
  return rc;
}

static void run_request(struct request *r) {
  struct timespec t0, t1;
  struct buf extra = {0};
  unsigned char *rx = NULL;
  ssize_t rc = -1;
  int err = 0, st;
  struct sockaddr_in sa;
  socklen_t salen = sizeof sa;
  char ipbuf[INET_ADDRSTRLEN];

  now_real(&t0);
  errno = 0;
  switch (r->op) {
    case OP_UNKNOWN: errno = ENOSYS; rc = -1; break;
    case OP_HELLO:
      rc = 0;
      buf_printf(&extra, ",\"agent\":\"lwip\",\"version\":\"%s\",\"lwip\":\"%s\"", AGENT_VERSION,
                 LWIP_VERSION_STRING);
      break;
    case OP_CONFIGURE:
      if (r->keepalive.set) {
        pthread_mutex_lock(&config_lock);
        keepalive_config = r->keepalive;
        pthread_mutex_unlock(&config_lock);
      }
      rc = 0;
      break;
    case OP_SLEEP:  /* lets a test prove that calls run side by side */
      usleep((useconds_t)(r->seconds * 1e6));
      rc = 0;
      break;
    case OP_SOCKET:
      rc = lwip_socket(AF_INET, SOCK_STREAM, 0);
      if (rc >= 0) {
        if (apply_config((int)rc) != 0) { err = errno; lwip_close((int)rc); errno = err; rc = -1; break; }
        track((int)rc);
      }
      break;
    case OP_BIND:
      sockaddr_for(&sa, r->ip, r->port);
      rc = lwip_bind(r->sock, (struct sockaddr *)&sa, sizeof sa);
      break;
    case OP_LISTEN: rc = lwip_listen(r->sock, r->backlog); break;
    case OP_ACCEPT:
      rc = lwip_accept(r->sock, (struct sockaddr *)&sa, &salen);
      if (rc >= 0) {
        apply_config((int)rc);  /* a failure here would be the stack's; the connection stands */
        track((int)rc);
        if (inet_ntop(AF_INET, &sa.sin_addr, ipbuf, sizeof ipbuf))
          buf_printf(&extra, ",\"peer\":\"%s:%u\"", ipbuf, ntohs(sa.sin_port));
      }
      break;
    case OP_CONNECT:
      sockaddr_for(&sa, r->ip, r->port);
      rc = lwip_connect(r->sock, (struct sockaddr *)&sa, sizeof sa);
      break;
    case OP_SEND: rc = lwip_send(r->sock, r->data, r->data_len, r->flags); break;
    case OP_RECV:
      rx = malloc(r->len ? (size_t)r->len : 1);
      if (!rx) { errno = ENOMEM; rc = -1; break; }
      rc = lwip_recv(r->sock, rx, (size_t)r->len, r->flags);
      break;
    case OP_SHUTDOWN: rc = lwip_shutdown(r->sock, r->how); break;
    case OP_CLOSE:
      untrack(r->sock);
      rc = lwip_close(r->sock);
      break;
    case OP_SETSOCKOPT: rc = set_option(r); break;
    case OP_GETSOCKOPT: rc = get_option(r, &extra); break;
    case OP_GETPEERNAME:
      rc = lwip_getpeername(r->sock, (struct sockaddr *)&sa, &salen);
      if (rc == 0 && inet_ntop(AF_INET, &sa.sin_addr, ipbuf, sizeof ipbuf))
        buf_printf(&extra, ",\"peer\":\"%s:%u\"", ipbuf, ntohs(sa.sin_port));
      break;
    case OP_ISCONNECTED:
      /* FreeRTOS_issocketconnected's definition (agent_protocol.md): 1 in ESTABLISHED, FIN_WAIT_1
       * or FIN_WAIT_2, else 0, read from the lwIP pcb since its socket API has no such query. */
      st = tcp_state(r->sock);
      if (st == NO_SOCKET) { errno = EBADF; rc = -1; break; }
      rc = st == ESTABLISHED || st == FIN_WAIT_1 || st == FIN_WAIT_2;
      break;
    case OP_TCPSTATE:
      st = tcp_state(r->sock);
      if (st == NO_SOCKET) { errno = EBADF; rc = -1; break; }
      rc = 0;
      buf_printf(&extra, ",\"state\":\"%s\"", state_name(st));
      break;
  }
  err = rc < 0 ? errno : 0;
  now_real(&t1);

  struct buf b = {0};
  buf_printf(&b, "{\"id\":%lld,\"raw\":%zd", r->id, rc);
  if (rc == -1) {
    const char *name = strerrorname_np(err);
    buf_printf(&b, ",\"errno\":%d,\"errname\":", err);
    buf_json_string(&b, name ? name : "");
  }
  if (r->op == OP_RECV) {
    buf_add(&b, ",\"data\":", 8);
    buf_hex(&b, rx, rc > 0 ? (size_t)rc : 0);
  }
  if (r->op == OP_UNKNOWN) {
    buf_add(&b, ",\"unsupported\":", 15);
    buf_json_string(&b, r->op_name);
  }
  if (extra.len) buf_add(&b, extra.p, extra.len);
  buf_time(&b, "t0", &t0);
  buf_time(&b, "t", &t1);
  buf_add(&b, "}", 1);
  emit(&b);
  free(extra.p);
  free(rx);
}

static void *call_thread(void *arg) {
  struct request *r = arg;
  run_request(r);
  free(r->data);
  free(r);
  return NULL;
}

static void handle_line(const char *line, size_t len) {
  struct jparser j = {.p = line, .end = line + len};
  j.nodes = calloc(MAX_NODES, sizeof *j.nodes);
  j.strings = malloc(len + 1);
  if (!j.nodes || !j.strings) {
    free(j.nodes);
    free(j.strings);
    emit_error(0, 0, "out of memory");
    return;
  }
  struct jnode *root = parse_value(&j, 0);
  if (root) {
    skip_ws(&j);
    if (j.p != j.end) { root = NULL; j.err = "trailing characters after the request"; }
  }
  /* Answer with the request's id whenever one can be read, so the harness can fail that call. */
  long id_value = 0;
  int has_id = root && as_int(member(root, "id"), 1, LLONG_MAX >> 11, &id_value);
  if (!root) {
    char msg[128];
    snprintf(msg, sizeof msg, "malformed request: %s at byte %ld", j.err ? j.err : "?", (long)(j.p - line));
    emit_error(0, 0, msg);
  } else {
    struct request *r = malloc(sizeof *r);
    const char *problem = r ? build_request(root, r) : "out of memory";
    if (problem) {
      emit_error(has_id, id_value, problem);
      if (r) free(r->data);
      free(r);
    } else {
      pthread_t th;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      if (pthread_create(&th, &attr, call_thread, r) != 0) {
        emit_error(1, r->id, "could not start a thread for the call");
        free(r->data);
        free(r);
      }
      pthread_attr_destroy(&attr);
    }
  }
  free(j.nodes);
  free(j.strings);
}

/* ---------------------------------------------------------------------------------------------- */
/* lwIP start-up                                                                                   */

static struct netif tap_netif;
static sys_sem_t init_done;

static void tcpip_ready(void *arg) {
  (void)arg;
  sys_sem_signal(&init_done);
}

static int parse_mac(const char *s, uint8_t mac[6]) {
  unsigned v[6];
  char tail;
  if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return 0;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
  return 1;
}

static const char *opt_or_env(int argc, char **argv, const char *flag, const char *env, const char *dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], flag)) return argv[i + 1];
  const char *v = getenv(env);
  return v && *v ? v : dflt;
}

/* Start-up failures go to stderr, where the harness shows them when the agent dies before "ready". */
static void fatal(const char *message) {
  fprintf(stderr, "lwip agent: %s\n", message);
  exit(2);
}

/* The tap: one descriptor, a thread feeding what it reads to the stack, frames written whole. */
#define TAP_FRAME 1518           /* an Ethernet frame with a VLAN tag, without the FCS */
static int tap_fd = -1;

static err_t tap_output(struct netif *netif, struct pbuf *p) {
  (void)netif;
  char frame[TAP_FRAME];
  if (p->tot_len > sizeof frame) return ERR_BUF;
  u16_t len = pbuf_copy_partial(p, frame, p->tot_len, 0);
  return write(tap_fd, frame, len) == (ssize_t)len ? ERR_OK : ERR_IF;
}

static void *tap_reader(void *arg) {
  struct netif *netif = arg;
  char frame[TAP_FRAME];
  for (;;) {
    ssize_t n = read(tap_fd, frame, sizeof frame);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      fatal("reading the tap failed");
    }
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
    if (!p) continue;                       /* out of memory: the frame is lost, as on a NIC */
    pbuf_take(p, frame, (u16_t)n);
    if (netif->input(p, netif) != ERR_OK) pbuf_free(p);
  }
  return NULL;
}

/* netif_add's init: attach to the tap PRECONFIGURED_TAPIF names (the harness made it and removes it). */
static err_t tap_init(struct netif *netif) {
  struct ifreq ifr = {0};
  const char *name = getenv("PRECONFIGURED_TAPIF");
  tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tap_fd < 0) fatal("could not open /dev/net/tun");
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (ioctl(tap_fd, TUNSETIFF, &ifr) < 0) fatal("could not attach to the tap device");
  netif->name[0] = 't';
  netif->name[1] = 'p';
  netif->output = etharp_output;            /* IPv4 only: no output_ip6, so no IPv6 frame leaves */
  netif->linkoutput = tap_output;
  netif->mtu = 1500;
  netif->hwaddr_len = 6;
  static const u8_t tapif_mac[6] = {0x02, 0x12, 0x34, 0x56, 0x78, 0xab};  /* tapif's, until LWIP_MAC */
  memcpy(netif->hwaddr, tapif_mac, 6);
  netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_IGMP;
  pthread_t reader;
  if (pthread_create(&reader, NULL, tap_reader, netif) != 0) fatal("could not start the tap reader");
  pthread_detach(reader);
  return ERR_OK;
}

int main(int argc, char **argv) {
  /* SIGPIPE keeps its default: if the harness goes away, the next write to its pipe ends us. lwIP
   * sockets are not OS descriptors, so a peer's RST never raises it. */
  int proto_fd = dup(STDOUT_FILENO);
  if (proto_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0 || !(proto = fdopen(proto_fd, "w")))
    fatal("could not set up the protocol stream");
  const char *tap = opt_or_env(argc, argv, "--tap", "PRECONFIGURED_TAPIF", NULL);
  const char *ip_s = opt_or_env(argc, argv, "--ip", "LWIP_IP", "198.18.0.2");
  const char *mask_s = opt_or_env(argc, argv, "--netmask", "LWIP_NETMASK", "255.255.255.0");
  const char *gw_s = opt_or_env(argc, argv, "--gw", "LWIP_GW", "198.18.0.1");
  const char *mac_s = opt_or_env(argc, argv, "--mac", "LWIP_MAC", NULL);
  uint8_t mac[6];
  ip4_addr_t ip, mask, gw;

  if (!tap) fatal("no tap device: set PRECONFIGURED_TAPIF or pass --tap NAME");
  if (setenv("PRECONFIGURED_TAPIF", tap, 1) != 0) fatal("setenv failed");
  if (!ip4addr_aton(ip_s, &ip) || !ip4addr_aton(mask_s, &mask) || !ip4addr_aton(gw_s, &gw))
    fatal("bad LWIP_IP, LWIP_NETMASK or LWIP_GW");
  if (mac_s && !parse_mac(mac_s, mac)) fatal("bad LWIP_MAC (expected aa:bb:cc:dd:ee:ff)");

  if (sys_sem_new(&init_done, 0) != ERR_OK) fatal("sys_sem_new failed");
  tcpip_init(tcpip_ready, NULL);
  sys_sem_wait(&init_done);

  LOCK_TCPIP_CORE();
  /* tap_init attaches to the tap (exits the process if it cannot) and starts the reader, which feeds
   * received frames to tcpip_input. */
  if (!netif_add(&tap_netif, &ip, &mask, &gw, NULL, tap_init, tcpip_input)) {
    UNLOCK_TCPIP_CORE();
    fatal("netif_add failed");
  }
  if (mac_s) {
    memcpy(tap_netif.hwaddr, mac, 6);
    tap_netif.hwaddr_len = 6;
  }
  netif_set_default(&tap_netif);
  netif_set_link_up(&tap_netif);
  netif_set_up(&tap_netif);
  UNLOCK_TCPIP_CORE();

  pthread_t monitor;
  if (pthread_create(&monitor, NULL, monitor_thread, NULL) != 0) fatal("could not start the monitor thread");
  pthread_detach(monitor);

  struct buf b = {0};
  const uint8_t *hw = tap_netif.hwaddr;
  buf_printf(&b, "{\"event\":\"ready\",\"agent\":\"lwip\",\"version\":\"%s\",\"lwip\":\"%s\",\"pid\":%ld,"
             "\"tap\":", AGENT_VERSION, LWIP_VERSION_STRING, (long)getpid());
  buf_json_string(&b, tap);
  buf_printf(&b, ",\"ip\":\"%s\",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\"}", ip4addr_ntoa(&ip), hw[0], hw[1],
             hw[2], hw[3], hw[4], hw[5]);
  emit(&b);

  /* Read requests until the harness closes our stdin; then leave without ceremony (lwIP has no
   * shutdown, and the tap is the harness's to remove). A line longer than MAX_LINE is consumed to its
   * end without being stored, so no input can make the agent allocate without bound. */
  char *line = malloc(MAX_LINE + 2);
  if (!line) fatal("out of memory");
  for (;;) {
    size_t len = 0;
    int c, overflow = 0;
    while ((c = getchar_unlocked()) != EOF && c != '\n') {
      if (len <= MAX_LINE) line[len++] = (char)c;
      else overflow = 1;
    }
    if (c == EOF && len == 0) break;
    while (len && line[len - 1] == '\r') len--;
    if (overflow || len > MAX_LINE) emit_error(0, 0, "request line too long");
    else if (len == 0) {}
    else if (memchr(line, 0, len)) emit_error(0, 0, "malformed request: NUL byte in the line");
    else handle_line(line, len);
    if (c == EOF) break;
  }
  free(line);
  fflush(proto);
  _exit(0);
}
