/* Built against Xen's own public headers (Debian libxen-dev) by XenHeaderTests.
 *   xen_abi layout            prints offsets, sizes and constants as key=value lines
 *   xen_abi front FILE COUNT PAGES  a frontend written with io/ring.h's macros on a shared
 *                             file: pushes COUNT checksummed requests, checks every response.
 *   xen_abi back FILE COUNT PAGES   a backend with io/ring.h's macros on a ring the other side
 *                             initialised: checks COUNT requests, answers each. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* io/ring.h's barriers. x86-64 is TSO: rmb/wmb need only stop the compiler; mb is a full fence. */
#define mb()  __sync_synchronize()
#define rmb() __asm__ __volatile__("" ::: "memory")
#define wmb() __asm__ __volatile__("" ::: "memory")
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>

/* The C twin of Tolapai.Xen.TestChild.TestRequest / TestResponse. */
struct tr_req { uint64_t seq; uint64_t salt; uint32_t len; uint32_t csum; uint8_t payload[40]; };
struct tr_rsp { uint64_t seq; uint32_t csum; int32_t status; };
DEFINE_RING_TYPES(tr, struct tr_req, struct tr_rsp);

struct b112 { uint8_t bytes[112]; };
DEFINE_RING_TYPES(b112, struct b112, struct b112);
struct n12 { uint16_t a; uint16_t b; uint32_t c; uint32_t d; };
DEFINE_RING_TYPES(n12, struct n12, struct n12);

static uint32_t mix(uint32_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) h = (h ^ (uint8_t)(v >> (i * 8))) * 16777619u;
    return h;
}

static void make(struct tr_req *r, uint64_t seq, uint64_t salt)
{
    memset(r, 0, sizeof *r);
    r->seq = seq; r->salt = salt; r->len = (uint32_t)(salt % 41);
    uint64_t x = salt ^ (seq * 0x9E3779B97F4A7C15ull);
    for (uint32_t i = 0; i < r->len; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; r->payload[i] = (uint8_t)x; }
    uint32_t h = 2166136261u;
    h = mix(h, r->seq); h = mix(h, r->salt); h = mix(h, r->len);
    for (int i = 0; i < 40; i++) h = (h ^ r->payload[i]) * 16777619u;
    r->csum = h;
}

static int layout(void)
{
#define P(k, v) printf("%s=%ld\n", k, (long)(v))
    P("sring.req_prod", offsetof(struct tr_sring, req_prod));
    P("sring.req_event", offsetof(struct tr_sring, req_event));
    P("sring.rsp_prod", offsetof(struct tr_sring, rsp_prod));
    P("sring.rsp_event", offsetof(struct tr_sring, rsp_event));
    P("sring.pvt", offsetof(struct tr_sring, pvt));
    P("sring.pad", offsetof(struct tr_sring, __pad));
    P("sring.ring", offsetof(struct tr_sring, ring));
    P("tr.entry", sizeof(union tr_sring_entry));
    P("tr.size.1", __CONST_RING_SIZE(tr, 4096));
    P("tr.size.4", __CONST_RING_SIZE(tr, 4 * 4096));
    P("b112.size.1", __CONST_RING_SIZE(b112, 4096));
    P("n12.size.1", __CONST_RING_SIZE(n12, 4096));
    P("gnt.flags", offsetof(grant_entry_v1_t, flags));
    P("gnt.domid", offsetof(grant_entry_v1_t, domid));
    P("gnt.frame", offsetof(grant_entry_v1_t, frame));
    P("gnt.size", sizeof(grant_entry_v1_t));
    P("GTF_permit_access", GTF_permit_access);
    P("GTF_accept_transfer", GTF_accept_transfer);
    P("GTF_readonly", GTF_readonly);
    P("GTF_reading", GTF_reading);
    P("GTF_writing", GTF_writing);
    P("GNTST_okay", GNTST_okay);
    P("GNTST_general_error", GNTST_general_error);
    P("GNTST_bad_domain", GNTST_bad_domain);
    P("GNTST_bad_gntref", GNTST_bad_gntref);
    P("GNTST_bad_handle", GNTST_bad_handle);
    P("GNTST_bad_virt_addr", GNTST_bad_virt_addr);
    P("GNTST_bad_dev_addr", GNTST_bad_dev_addr);
    P("GNTST_no_device_space", GNTST_no_device_space);
    P("GNTST_permission_denied", GNTST_permission_denied);
    P("GNTST_bad_page", GNTST_bad_page);
    P("GNTST_bad_copy_arg", GNTST_bad_copy_arg);
    P("GNTST_address_too_big", GNTST_address_too_big);
    P("GNTST_eagain", GNTST_eagain);
    P("GNTST_no_space", GNTST_no_space);
    return 0;
}

static int front(const char *path, long count, unsigned pages)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) { perror("open"); return 1; }
    size_t bytes = (size_t)pages * 4096;
    struct tr_sring *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s == MAP_FAILED) { perror("mmap"); return 1; }
    struct tr_front_ring fr;
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&fr, s, bytes);
    printf("READY %u\n", RING_SIZE(&fr));
    fflush(stdout);
    long sent = 0, received = 0, notifies = 0;
    uint64_t salt = 12345;
    while (received < count) {
        while (sent < count && !RING_FULL(&fr)) {
            salt = salt * 6364136223846793005ull + 1442695040888963407ull;
            make(RING_GET_REQUEST(&fr, fr.req_prod_pvt), (uint64_t)sent, salt >> 1);
            fr.req_prod_pvt++;
            sent++;
        }
        int notify;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
        notifies += notify;
        RING_IDX rp = s->rsp_prod;
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* rmb(): slots after the index */
        for (; fr.rsp_cons != rp; fr.rsp_cons++) {
            struct tr_rsp *rsp = RING_GET_RESPONSE(&fr, fr.rsp_cons);
            if (rsp->seq != (uint64_t)received || rsp->status != 0) {
                printf("FAIL response %ld: seq %llu status %d\n", received, (unsigned long long)rsp->seq, rsp->status);
                return 1;
            }
            received++;
        }
    }
    printf("DONE sent=%ld received=%ld notifies=%ld\n", sent, received, notifies);
    return 0;
}

static int back(const char *path, long count, unsigned pages)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) { perror("open"); return 1; }
    size_t bytes = (size_t)pages * 4096;
    struct tr_sring *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s == MAP_FAILED) { perror("mmap"); return 1; }
    struct tr_back_ring br;
    BACK_RING_INIT(&br, s, bytes);
    printf("READY %u\n", RING_SIZE(&br));
    fflush(stdout);
    long handled = 0, notifies = 0, rearms = 0;
    while (handled < count) {
        RING_IDX rp = s->req_prod;
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* rmb(): slots after the index */
        if (RING_REQUEST_PROD_OVERFLOW(&br, rp)) { printf("FAIL bogus req_prod %u\n", rp); return 1; }
        while (br.req_cons != rp && !RING_REQUEST_CONS_OVERFLOW(&br, br.req_cons)) {
            struct tr_req req;
            RING_COPY_REQUEST(&br, br.req_cons, &req);
            br.req_cons++;
            struct tr_req expect;
            make(&expect, req.seq, req.salt);
            struct tr_rsp *rsp = RING_GET_RESPONSE(&br, br.rsp_prod_pvt);
            rsp->seq = req.seq;
            rsp->csum = mix(req.csum, ~req.seq);
            rsp->status = (req.seq == (uint64_t)handled && memcmp(&req, &expect, sizeof req) == 0) ? 0 : 1;
            br.rsp_prod_pvt++;
            handled++;
        }
        int notify;
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify);
        notifies += notify;
        int more;
        RING_FINAL_CHECK_FOR_REQUESTS(&br, more);
        rearms += !more;
    }
    printf("DONE handled=%ld notifies=%ld rearms=%ld\n", handled, notifies, rearms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "layout") == 0) return layout();
    if (argc >= 5 && strcmp(argv[1], "front") == 0) return front(argv[2], atol(argv[3]), (unsigned)atoi(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "back") == 0) return back(argv[2], atol(argv[3]), (unsigned)atoi(argv[4]));
    fprintf(stderr, "usage: xen_abi layout | front FILE COUNT PAGES | back FILE COUNT PAGES\n");
    return 2;
}
