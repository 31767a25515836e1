/* scenarios.c — the load generator's scenarios: directory reads, stock read and issue,
 * disbursements, and (when their protos exist) requisitions, the subsidy batch and the
 * spending report. Each builds its requests from a per-iteration counter over the demo
 * district's sites, items and grids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scenario.h"

#include "grpc/health/v1/health.pb-c.h"
#include "gridstock/v1/catalog.pb-c.h"
#include "gridstock/v1/sites.pb-c.h"
#include "gridstock/v1/stock.pb-c.h"
#if __has_include("gridstock/v1/requisitions.pb-c.h")
#include "gridstock/v1/requisitions.pb-c.h"
#define HAVE_REQUISITIONS 1
#endif
#if __has_include("gridstock/v1/funds.pb-c.h")
#include "gridstock/v1/funds.pb-c.h"
#define HAVE_FUNDS 1
#endif
#if __has_include("gridstock/v1/programmes.pb-c.h")
#include "gridstock/v1/programmes.pb-c.h"
#define HAVE_PROGRAMMES 1
#endif
#if __has_include("gridstock/v1/reports.pb-c.h")
#include "gridstock/v1/reports.pb-c.h"
#define HAVE_REPORTS 1
#endif

#define SVC(name) "/gridstock.v1." name

int lg_pack(const ProtobufCMessage *m, uint8_t *buf, size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > cap)
        return -1;
    return (int)protobuf_c_message_pack(m, buf);
}

const char *lg_step_login(const lg_step *st, uint64_t n, char *buf, size_t cap)
{
    if (st->spread <= 0)
        return st->login;
    /* the pattern's one conversion: %u or %0Nu */
    const char *pct = strchr(st->login, '%');
    if (!pct)
        return st->login;
    const char *p = pct + 1;
    int width = 0;
    if (*p == '0')
        p++;
    while (*p >= '0' && *p <= '9')
        width = width * 10 + (*p++ - '0');
    if (*p != 'u' || width > 8)
        return st->login;
    char num[24];
    int len = snprintf(num, sizeof num, "%u", (unsigned)(n % (uint64_t)st->spread) + 1);
    char pad[16] = "";
    for (int i = 0; i < width - len && i < 15; i++)
        pad[i] = '0', pad[i + 1] = '\0';
    snprintf(buf, cap, "%.*s%s%s%s", (int)(pct - st->login), st->login, pad, num, p + 1);
    return buf;
}

/* ---------------------------------------------------------------- the demo district */

#define N_RESERVE_POINTS 28
/* Items the stock scenarios move: every reserve point gets a bench lot of each. */
static const char *const bench_items[] = {"WATER-5L",       "RICE-10KG",     "OIL-5L",
                                          "NOODLE-INST-24", "MASK-N95",      "GLOVE-NITRILE",
                                          "CANNED-MEAT",    "BLANKET-COTTON"};
#define N_BENCH_ITEMS (sizeof bench_items / sizeof bench_items[0])
#define N_GRIDS 208

static void rp_code(char *buf, size_t n, uint64_t i)
{
    snprintf(buf, n, "RP%02u", (unsigned)(i % N_RESERVE_POINTS) + 1);
}

static void grid_code(char *buf, size_t n, uint64_t i)
{
    snprintf(buf, n, "GR%03u", (unsigned)(i % N_GRIDS) + 1);
}

/* Iteration n → (site, item): consecutive iterations land on different sites first, so
 * the calls in flight rarely wait on one another's lot locks. */
static void site_item(uint64_t n, char *site, size_t sn, const char **item)
{
    rp_code(site, sn, n);
    *item = bench_items[(n / N_RESERVE_POINTS) % N_BENCH_ITEMS];
}

/* "YYYY-MM-DD" `days` from today (UTC). */
static void date_in(char *buf, size_t n, int days)
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d", &tm);
}

static void this_month(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m", &tm);
}

/* "YYYY-MM" `back` months before this one (UTC). */
static void month_back(char *buf, size_t n, int back)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    int m = tm.tm_year * 12 + tm.tm_mon - back;
    snprintf(buf, n, "%04d-%02d", 1900 + m / 12, m % 12 + 1);
}

/* ---------------------------------------------------------------- the runtime alone */

/* grpc.health.v1.Health/Check of the whole server: a call through gridstockd's runtime
 * (HTTP/2, dispatch, a worker) that touches no database — the anchor bench/run derives the
 * read ceiling from. */
static int b_health(lg_iter *it, uint8_t *buf, size_t cap)
{
    (void)it;
    Grpc__Health__V1__HealthCheckRequest m = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    return lg_pack(&m.base, buf, cap);
}

static int r_health(lg_iter *it, const ProtobufCMessage *resp)
{
    const Grpc__Health__V1__HealthCheckResponse *h =
        (const Grpc__Health__V1__HealthCheckResponse *)resp;
    (void)it;
    return h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : -1;
}

static const lg_step steps_health[] = {
    {"/grpc.health.v1.Health/Check", "logi.district", b_health,
     &grpc__health__v1__health_check_response__descriptor, r_health, 0},
};

/* ---------------------------------------------------------------- directory reads */

static int b_get_site(lg_iter *it, uint8_t *buf, size_t cap)
{
    char code[8];
    rp_code(code, sizeof code, it->n);
    Gridstock__V1__GetSiteRequest m = GRIDSTOCK__V1__GET_SITE_REQUEST__INIT;
    m.code = code;
    return lg_pack(&m.base, buf, cap);
}

static int r_site(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__Site *s = (const Gridstock__V1__Site *)resp;
    (void)it;
    return s->id > 0 ? 0 : -1;
}

static const lg_step steps_site_get[] = {
    {SVC("SiteService/GetSite"), "logi.district", b_get_site, &gridstock__v1__site__descriptor,
     r_site, 0},
};

static int b_list_items(lg_iter *it, uint8_t *buf, size_t cap)
{
    static char *const cats[] = {"water", "food", "medicine", ""};
    Gridstock__V1__ListItemsRequest m = GRIDSTOCK__V1__LIST_ITEMS_REQUEST__INIT;
    m.category = cats[it->n % 4];
    m.page_size = 20;
    return lg_pack(&m.base, buf, cap);
}

static int r_list_items(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__ListItemsResponse *r = (const Gridstock__V1__ListItemsResponse *)resp;
    it->units += r->n_items;
    return r->n_items > 0 ? 0 : -1;
}

static const lg_step steps_list_items[] = {
    {SVC("CatalogService/ListItems"), "logi.district", b_list_items,
     &gridstock__v1__list_items_response__descriptor, r_list_items, 0},
};

/* ---------------------------------------------------------------- stock */

#define STOCK_LOGIN "logi.district"
#define BENCH_LOT "BENCH-LOT-1"
#define BENCH_QTY 1000000000LL

/* One bench lot per reserve point and bench item with a billion units, received under a
 * fixed request id so that a second set-up on the same database is a replay. */
static int setup_stock(lg_setup_ctx *ctx)
{
    char expires[16];
    date_in(expires, sizeof expires, 170); /* within every bench item's shelf life */
    for (int s = 0; s < N_RESERVE_POINTS; s++) {
        for (size_t i = 0; i < N_BENCH_ITEMS; i++) {
            char site[8], reqid[96];
            rp_code(site, sizeof site, (uint64_t)s);
            snprintf(reqid, sizeof reqid, "bench-setup-receive-%s-%s-%s", site, bench_items[i],
                     BENCH_LOT);
            Gridstock__V1__ReceiveRequest m = GRIDSTOCK__V1__RECEIVE_REQUEST__INIT;
            m.site_code = site;
            m.item_code = (char *)bench_items[i];
            m.qty = BENCH_QTY;
            m.lot_code = BENCH_LOT;
            m.expires_on = expires;
            m.source = "purchase";
            m.note = "bench set-up";
            if (ctx->call(ctx, SVC("StockService/Receive"), STOCK_LOGIN, &m.base, NULL, NULL,
                          reqid) != 0)
                return -1;
        }
    }
    return 0;
}

static int b_get_balance(lg_iter *it, uint8_t *buf, size_t cap)
{
    char site[8];
    const char *item;
    site_item(it->n, site, sizeof site, &item);
    Gridstock__V1__GetBalanceRequest m = GRIDSTOCK__V1__GET_BALANCE_REQUEST__INIT;
    m.site_code = site;
    m.item_code = (char *)item;
    return lg_pack(&m.base, buf, cap);
}

static int r_balance(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__SiteBalance *b = (const Gridstock__V1__SiteBalance *)resp;
    (void)it;
    return b->site_id > 0 ? 0 : -1;
}

static const lg_step steps_stock_read[] = {
    {SVC("StockService/GetBalance"), STOCK_LOGIN, b_get_balance,
     &gridstock__v1__site_balance__descriptor, r_balance, 0},
};

static int b_issue(lg_iter *it, uint8_t *buf, size_t cap)
{
    char site[8];
    const char *item;
    site_item(it->n, site, sizeof site, &item);
    Gridstock__V1__IssueRequest m = GRIDSTOCK__V1__ISSUE_REQUEST__INIT;
    m.site_code = site;
    m.item_code = (char *)item;
    m.qty = 1;
    m.reason = "bench issue";
    return lg_pack(&m.base, buf, cap);
}

static int r_issue(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__IssueResponse *r = (const Gridstock__V1__IssueResponse *)resp;
    it->units += (uint64_t)r->total;
    return r->total == 1 && r->n_taken == 1 ? 0 : -1;
}

static const lg_step steps_stock_issue[] = {
    {SVC("StockService/Issue"), STOCK_LOGIN, b_issue, &gridstock__v1__issue_response__descriptor,
     r_issue, 0},
};

/* ---------------------------------------------------------------- requisitions */
#ifdef HAVE_REQUISITIONS

/* Requesters: the staff of 8 communities (iteration n → staff.cm0((n % 8) + 1)); approval,
 * allocation and dispatch by the district's logistics officer; the requester confirms. */
#define REQ_SPREAD 8

static int b_req_create(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__RequisitionLineInput line = GRIDSTOCK__V1__REQUISITION_LINE_INPUT__INIT;
    Gridstock__V1__RequisitionLineInput *lines[1] = {&line};
    line.item_code = (char *)bench_items[(it->n / REQ_SPREAD) % N_BENCH_ITEMS];
    line.qty = 1 + (int64_t)(it->n % 3);
    Gridstock__V1__CreateRequisitionRequest m = GRIDSTOCK__V1__CREATE_REQUISITION_REQUEST__INIT;
    m.priority = "routine";
    m.purpose = "bench requisition";
    m.delivery_address = "community office";
    m.n_lines = 1;
    m.lines = lines;
    m.submit = 1;
    return lg_pack(&m.base, buf, cap);
}

static int r_req_state(lg_iter *it, const ProtobufCMessage *resp, const char *want)
{
    const Gridstock__V1__Requisition *q = (const Gridstock__V1__Requisition *)resp;
    if (q->id <= 0 || strcmp(q->status, want) != 0)
        return -1;
    it->vars[0] = q->id;
    return 0;
}

static int r_req_submitted(lg_iter *it, const ProtobufCMessage *resp)
{
    return r_req_state(it, resp, "submitted");
}

static int r_req_approved(lg_iter *it, const ProtobufCMessage *resp)
{
    return r_req_state(it, resp, "approved");
}

static int r_req_allocated(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__Requisition *q = (const Gridstock__V1__Requisition *)resp;
    /* fully covered: the bench lots hold plenty */
    if (q->n_lines != 1 || q->lines[0]->qty_backordered != 0)
        return -1;
    return r_req_state(it, resp, "allocated");
}

static int r_req_dispatched(lg_iter *it, const ProtobufCMessage *resp)
{
    return r_req_state(it, resp, "dispatched");
}

static int r_req_received(lg_iter *it, const ProtobufCMessage *resp)
{
    int rc = r_req_state(it, resp, "received");
    if (rc == 0)
        it->units++;
    return rc;
}

static int b_req_approve(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__ApproveRequest m = GRIDSTOCK__V1__APPROVE_REQUEST__INIT;
    m.id = it->vars[0];
    m.comment = "bench";
    return lg_pack(&m.base, buf, cap);
}

static int b_req_action(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__RequisitionActionRequest m = GRIDSTOCK__V1__REQUISITION_ACTION_REQUEST__INIT;
    m.id = it->vars[0];
    return lg_pack(&m.base, buf, cap);
}

static int b_req_receive(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__ConfirmReceiptRequest m = GRIDSTOCK__V1__CONFIRM_RECEIPT_REQUEST__INIT;
    m.id = it->vars[0];
    m.comment = "received in full";
    return lg_pack(&m.base, buf, cap);
}

#define REQ_PATH(m) SVC("RequisitionService/" m)
#define REQ_DESC &gridstock__v1__requisition__descriptor
static const lg_step steps_requisition[] = {
    {REQ_PATH("Create"), "staff.cm%02u", b_req_create, REQ_DESC, r_req_submitted, REQ_SPREAD},
    {REQ_PATH("Approve"), STOCK_LOGIN, b_req_approve, REQ_DESC, r_req_approved, 0},
    {REQ_PATH("Allocate"), STOCK_LOGIN, b_req_action, REQ_DESC, r_req_allocated, 0},
    {REQ_PATH("Dispatch"), STOCK_LOGIN, b_req_action, REQ_DESC, r_req_dispatched, 0},
    {REQ_PATH("ConfirmReceipt"), "staff.cm%02u", b_req_receive, REQ_DESC, r_req_received,
     REQ_SPREAD},
};
#endif /* HAVE_REQUISITIONS */

/* ---------------------------------------------------------------- funds */
#ifdef HAVE_FUNDS

#define FIN_OFFICER "fin.officer"
#define FIN_APPROVER "fin.approver"
#define BENCH_SOURCE "BENCH-SOURCE"
/* Payees BENCH-DPAYEE-01..32: every posting updates its payee's balance row, so one payee
 * would serialise the calls in flight on that row lock. */
#define N_BENCH_PAYEES 32

/* A funding source with 10^13 fen, 10^10 fen in every grid fund, and a payee. Fixed
 * request ids make a repeated set-up a replay. */

/* Money moves by two people (FundMovementService): prepared by the finance officer,
 * approved and posted by the approver, each step under its own fixed request id so a
 * repeated set-up replays instead of moving the money again. 0 or -1. */
static int move_money(lg_setup_ctx *ctx, const char *prepare, const ProtobufCMessage *req,
                      const char *reqid)
{
    ProtobufCMessage *out = NULL;
    char rid[96];
    if (ctx->call(ctx, prepare, FIN_OFFICER, req, &gridstock__v1__fund_movement__descriptor, &out,
                  reqid) != 0 ||
        !out)
        return -1;
    Gridstock__V1__FundMovementRequest m = GRIDSTOCK__V1__FUND_MOVEMENT_REQUEST__INIT;
    m.id = ((Gridstock__V1__FundMovement *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    snprintf(rid, sizeof rid, "%s-approve", reqid);
    if (ctx->call(ctx, SVC("FundMovementService/ApproveMovement"), FIN_APPROVER, &m.base, NULL,
                  NULL, rid) != 0)
        return -1;
    snprintf(rid, sizeof rid, "%s-post", reqid);
    return ctx->call(ctx, SVC("FundMovementService/PostMovement"), FIN_APPROVER, &m.base, NULL,
                     NULL, rid) == 0
               ? 0
               : -1;
}

static int setup_funds(lg_setup_ctx *ctx)
{
    Gridstock__V1__CreateAccountRequest a = GRIDSTOCK__V1__CREATE_ACCOUNT_REQUEST__INIT;
    a.kind = "source";
    a.code = BENCH_SOURCE;
    a.name = "Benchmark funding source";
    a.org_unit_code = "DC";
    int rc = ctx->call(ctx, SVC("FundService/CreateAccount"), FIN_OFFICER, &a.base, NULL, NULL,
                       "bench-setup-account-source");
    if (rc != 0 && rc != 6 /* ALREADY_EXISTS */)
        return -1;
    for (int i = 1; i <= N_BENCH_PAYEES; i++) {
        char code[32], name[64], reqid[64];
        snprintf(code, sizeof code, "BENCH-DPAYEE-%02d", i);
        snprintf(name, sizeof name, "Benchmark payee %d", i);
        snprintf(reqid, sizeof reqid, "bench-setup-account-%s", code);
        a.kind = "payee";
        a.code = code;
        a.name = name;
        rc = ctx->call(ctx, SVC("FundService/CreateAccount"), FIN_OFFICER, &a.base, NULL, NULL,
                       reqid);
        if (rc != 0 && rc != 6)
            return -1;
    }
    Gridstock__V1__DepositRequest d = GRIDSTOCK__V1__DEPOSIT_REQUEST__INIT;
    d.source_code = BENCH_SOURCE;
    d.amount = 10000000000000LL;
    d.memo = "bench set-up";
    if (move_money(ctx, SVC("FundMovementService/PrepareDeposit"), &d.base,
                   "bench-setup-deposit") != 0)
        return -1;
    Gridstock__V1__AllocationItem items[N_GRIDS];
    Gridstock__V1__AllocationItem *ptrs[N_GRIDS];
    char codes[N_GRIDS][8];
    for (int i = 0; i < N_GRIDS; i++) {
        gridstock__v1__allocation_item__init(&items[i]);
        grid_code(codes[i], sizeof codes[i], (uint64_t)i);
        items[i].grid_code = codes[i];
        items[i].amount = 10000000000LL;
        ptrs[i] = &items[i];
    }
    Gridstock__V1__AllocateBatchRequest b = GRIDSTOCK__V1__ALLOCATE_BATCH_REQUEST__INIT;
    b.source_code = BENCH_SOURCE;
    b.n_items = N_GRIDS;
    b.items = ptrs;
    b.memo = "bench set-up";
    return move_money(ctx, SVC("FundMovementService/PrepareAllocationBatch"), &b.base,
                      "bench-setup-allocate");
}

static int b_prepare(lg_iter *it, uint8_t *buf, size_t cap)
{
    char grid[8], period[8], payee[32];
    grid_code(grid, sizeof grid, it->n);
    snprintf(payee, sizeof payee, "BENCH-DPAYEE-%02u", (unsigned)(it->n % N_BENCH_PAYEES) + 1);
    this_month(period, sizeof period);
    Gridstock__V1__PrepareDisbursementRequest m = GRIDSTOCK__V1__PREPARE_DISBURSEMENT_REQUEST__INIT;
    m.grid_code = grid;
    m.payee_code = payee;
    m.category = "subsidies";
    m.amount = 100 + (int64_t)(it->n % 900);
    m.purpose = "bench disbursement";
    m.period = period;
    return lg_pack(&m.base, buf, cap);
}

static int r_disb_state(lg_iter *it, const ProtobufCMessage *resp, const char *want)
{
    const Gridstock__V1__Disbursement *d = (const Gridstock__V1__Disbursement *)resp;
    if (d->id <= 0 || strcmp(d->state, want) != 0)
        return -1;
    it->vars[0] = d->id;
    return 0;
}

static int r_prepared(lg_iter *it, const ProtobufCMessage *resp)
{
    return r_disb_state(it, resp, "prepared");
}

static int r_approved(lg_iter *it, const ProtobufCMessage *resp)
{
    return r_disb_state(it, resp, "approved");
}

static int r_posted(lg_iter *it, const ProtobufCMessage *resp)
{
    int rc = r_disb_state(it, resp, "posted");
    if (rc == 0)
        it->units++;
    return rc;
}

static int b_approve(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__ApproveDisbursementRequest m = GRIDSTOCK__V1__APPROVE_DISBURSEMENT_REQUEST__INIT;
    m.id = it->vars[0];
    return lg_pack(&m.base, buf, cap);
}

static int b_post(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__PostDisbursementRequest m = GRIDSTOCK__V1__POST_DISBURSEMENT_REQUEST__INIT;
    m.id = it->vars[0];
    return lg_pack(&m.base, buf, cap);
}

static const lg_step steps_disburse[] = {
    {SVC("DisbursementService/PrepareDisbursement"), FIN_OFFICER, b_prepare,
     &gridstock__v1__disbursement__descriptor, r_prepared, 0},
    {SVC("DisbursementService/ApproveDisbursement"), FIN_APPROVER, b_approve,
     &gridstock__v1__disbursement__descriptor, r_approved, 0},
    {SVC("DisbursementService/PostDisbursement"), FIN_APPROVER, b_post,
     &gridstock__v1__disbursement__descriptor, r_posted, 0},
};
#endif /* HAVE_FUNDS */

/* ---------------------------------------------------------------- subsidy batch */
#if defined(HAVE_FUNDS) && defined(HAVE_PROGRAMMES)

/* A volunteer-allowance programme paying BENCH-PAYEE-00001..10000 (bench/sql/005_payees.sql)
 * from the 208 grid funds, 48 or so members per grid. Each iteration runs it for a month of
 * its own (from BATCH_YEAR on, so no budget of the demo data is touched), approves the run
 * as the second person and posts it: 10,000 disbursements, 10,000 postings. */
#define BATCH_PROGRAMME "BENCH-VOL"
#define BATCH_PAYEES 10000
#define BATCH_AMOUNT 5000 /* fen per member */
#define BATCH_YEAR 2040
#define MEMBERS_PER_CALL 5000 /* SetProgrammeMembers takes at most 5000 */

/* Runs already made on this database (a set-up repeated on it): iterations start after them. */
static int64_t batch_base;

static void batch_period(char *buf, size_t n, uint64_t m)
{
    snprintf(buf, n, "%04u-%02u", (unsigned)(BATCH_YEAR + m / 12), (unsigned)(m % 12) + 1);
}

static int setup_batch(lg_setup_ctx *ctx)
{
    if (setup_funds(ctx) != 0)
        return -1;
    Gridstock__V1__CreateProgrammeRequest cp = GRIDSTOCK__V1__CREATE_PROGRAMME_REQUEST__INIT;
    cp.code = BATCH_PROGRAMME;
    cp.name = "Benchmark volunteer allowance";
    cp.kind = "volunteer_allowance";
    cp.category = "activities";
    cp.amount = BATCH_AMOUNT;
    cp.org_unit_code = "DC";
    int rc = ctx->call(ctx, SVC("ProgrammeService/CreateProgramme"), FIN_OFFICER, &cp.base, NULL,
                       NULL, "bench-setup-programme");
    if (rc != 0 && rc != 6 /* ALREADY_EXISTS */)
        return -1;
    Gridstock__V1__GetProgrammeRequest gp = GRIDSTOCK__V1__GET_PROGRAMME_REQUEST__INIT;
    gp.code = BATCH_PROGRAMME;
    ProtobufCMessage *out = NULL;
    if (ctx->call(ctx, SVC("ProgrammeService/GetProgramme"), FIN_OFFICER, &gp.base,
                  &gridstock__v1__programme__descriptor, &out, NULL) != 0)
        return -1;
    const Gridstock__V1__Programme *prog = (const Gridstock__V1__Programme *)out;
    int64_t prog_id = prog->id;
    int members = prog->members;
    protobuf_c_message_free_unpacked(out, NULL);

    if (members != BATCH_PAYEES) {
        static Gridstock__V1__ProgrammeMember m[MEMBERS_PER_CALL];
        static Gridstock__V1__ProgrammeMember *mp[MEMBERS_PER_CALL];
        static char payee[MEMBERS_PER_CALL][24], grid[MEMBERS_PER_CALL][8];
        for (int first = 0; first < BATCH_PAYEES; first += MEMBERS_PER_CALL) {
            int k = 0;
            for (int i = first; i < first + MEMBERS_PER_CALL && i < BATCH_PAYEES; i++, k++) {
                gridstock__v1__programme_member__init(&m[k]);
                snprintf(payee[k], sizeof payee[k], "BENCH-PAYEE-%05d", i + 1);
                grid_code(grid[k], sizeof grid[k], (uint64_t)i);
                m[k].payee_code = payee[k];
                m[k].grid_code = grid[k];
                mp[k] = &m[k];
            }
            Gridstock__V1__SetProgrammeMembersRequest sm =
                GRIDSTOCK__V1__SET_PROGRAMME_MEMBERS_REQUEST__INIT;
            sm.programme_id = prog_id;
            sm.n_members = (size_t)k;
            sm.members = mp;
            char reqid[64];
            snprintf(reqid, sizeof reqid, "bench-setup-members-%d", first);
            if (ctx->call(ctx, SVC("ProgrammeService/SetProgrammeMembers"), FIN_OFFICER, &sm.base,
                          NULL, NULL, reqid) != 0)
                return -1;
        }
    }

    Gridstock__V1__ListRunsRequest lr = GRIDSTOCK__V1__LIST_RUNS_REQUEST__INIT;
    lr.programme_id = prog_id;
    if (ctx->call(ctx, SVC("ProgrammeService/ListRuns"), FIN_OFFICER, &lr.base,
                  &gridstock__v1__list_runs_response__descriptor, &out, NULL) != 0)
        return -1;
    batch_base = (int64_t)((const Gridstock__V1__ListRunsResponse *)out)->n_runs;
    protobuf_c_message_free_unpacked(out, NULL);

    /* Budgets that carry the runs (the budget checks are part of the work): the year of the
     * first run's month and the next, per grid, far more than the runs spend. */
    for (int y = 0; y < 2; y++) {
        char year[16];
        snprintf(year, sizeof year, "%04d", BATCH_YEAR + (int)(batch_base / 12) + y);
        for (int g = 0; g < N_GRIDS; g++) {
            char code[8], reqid[64];
            grid_code(code, sizeof code, (uint64_t)g);
            snprintf(reqid, sizeof reqid, "bench-setup-budget-%s-%s", code, year);
            Gridstock__V1__SetBudgetRequest b = GRIDSTOCK__V1__SET_BUDGET_REQUEST__INIT;
            b.grid_code = code;
            b.period = year;
            b.category = "activities";
            b.amount = 10000000000LL;
            if (ctx->call(ctx, SVC("FundService/SetBudget"), FIN_OFFICER, &b.base, NULL, NULL,
                          reqid) != 0)
                return -1;
        }
    }
    return 0;
}

static int b_run_programme(lg_iter *it, uint8_t *buf, size_t cap)
{
    char period[16];
    batch_period(period, sizeof period, (uint64_t)batch_base + it->n);
    Gridstock__V1__RunProgrammeRequest m = GRIDSTOCK__V1__RUN_PROGRAMME_REQUEST__INIT;
    m.programme_code = BATCH_PROGRAMME;
    m.period = period;
    return lg_pack(&m.base, buf, cap);
}

static int r_run_prepared(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__ProgrammeRun *r = (const Gridstock__V1__ProgrammeRun *)resp;
    if (r->id <= 0 || r->items != BATCH_PAYEES || r->created_now != BATCH_PAYEES ||
        r->prepared != BATCH_PAYEES)
        return -1;
    it->vars[0] = r->id;
    it->vars[1] = r->items;
    it->vars[2] = r->total;
    return 0;
}

static int b_approve_run(lg_iter *it, uint8_t *buf, size_t cap)
{
    /* the approver confirms what they reviewed: the run's count and total */
    Gridstock__V1__ApproveRunRequest m = GRIDSTOCK__V1__APPROVE_RUN_REQUEST__INIT;
    m.id = it->vars[0];
    m.expected_count = (int32_t)it->vars[1];
    m.expected_total = it->vars[2];
    return lg_pack(&m.base, buf, cap);
}

static int r_run_approved(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__ProgrammeRun *r = (const Gridstock__V1__ProgrammeRun *)resp;
    return r->id == it->vars[0] && r->approved == BATCH_PAYEES ? 0 : -1;
}

static int b_post_run(lg_iter *it, uint8_t *buf, size_t cap)
{
    Gridstock__V1__PostRunRequest m = GRIDSTOCK__V1__POST_RUN_REQUEST__INIT;
    m.id = it->vars[0];
    return lg_pack(&m.base, buf, cap);
}

static int r_run_posted(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__ProgrammeRun *r = (const Gridstock__V1__ProgrammeRun *)resp;
    if (r->id != it->vars[0] || r->posted != BATCH_PAYEES || r->total_posted != it->vars[2])
        return -1;
    it->units += (uint64_t)r->posted;
    return 0;
}

#define RUN_DESC &gridstock__v1__programme_run__descriptor
static const lg_step steps_batch[] = {
    {SVC("ProgrammeService/RunProgramme"), FIN_OFFICER, b_run_programme, RUN_DESC, r_run_prepared,
     0},
    {SVC("ProgrammeService/ApproveRun"), FIN_APPROVER, b_approve_run, RUN_DESC, r_run_approved, 0},
    {SVC("ProgrammeService/PostRun"), FIN_APPROVER, b_post_run, RUN_DESC, r_run_posted, 0},
};
#endif /* HAVE_FUNDS && HAVE_PROGRAMMES */

/* ---------------------------------------------------------------- spending report */
#ifdef HAVE_REPORTS

/* Over the ledger of bench/sql/010_ledger.sql (postings over the last 24 months, their
 * fund_spending summary with it): one month by grid, then the twelve months up to it by
 * street; iteration n reads the month n % 12 + 1 months back (complete months). */
static int b_spending_grid(lg_iter *it, uint8_t *buf, size_t cap)
{
    char month[16];
    month_back(month, sizeof month, (int)(it->n % 12) + 1);
    Gridstock__V1__SpendingReportRequest m = GRIDSTOCK__V1__SPENDING_REPORT_REQUEST__INIT;
    m.from_period = month;
    m.to_period = month;
    m.group_by = "grid";
    return lg_pack(&m.base, buf, cap);
}

static int b_spending_street(lg_iter *it, uint8_t *buf, size_t cap)
{
    char from[16], to[16];
    month_back(from, sizeof from, (int)(it->n % 12) + 12);
    month_back(to, sizeof to, (int)(it->n % 12) + 1);
    Gridstock__V1__SpendingReportRequest m = GRIDSTOCK__V1__SPENDING_REPORT_REQUEST__INIT;
    m.from_period = from;
    m.to_period = to;
    m.group_by = "street";
    return lg_pack(&m.base, buf, cap);
}

static int r_spending(lg_iter *it, const ProtobufCMessage *resp)
{
    const Gridstock__V1__SpendingReportResponse *r =
        (const Gridstock__V1__SpendingReportResponse *)resp;
    /* the generated ledger spends in every grid every month */
    if (r->n_rows == 0 || r->total <= 0 || r->disbursements <= 0)
        return -1;
    it->units += r->n_rows;
    return 0;
}

#define REPORT_LOGIN "fin.officer"
static const lg_step steps_report[] = {
    {SVC("FundReportService/SpendingReport"), REPORT_LOGIN, b_spending_grid,
     &gridstock__v1__spending_report_response__descriptor, r_spending, 0},
    {SVC("FundReportService/SpendingReport"), REPORT_LOGIN, b_spending_street,
     &gridstock__v1__spending_report_response__descriptor, r_spending, 0},
};
#endif /* HAVE_REPORTS */

/* ---------------------------------------------------------------- the table */

#define STEPS(a) a, (int)(sizeof a / sizeof a[0])

/* Scenarios of the issue whose RPC no proto offers yet: listed, and skipped with the
 * reason, so bench/run's table shows them. */
static const lg_step no_steps[1] __attribute__((unused));
#define MISSING(name, kind, summary, why)                                                          \
    {                                                                                              \
        name, kind, summary, NULL, no_steps, 0, NULL, why                                          \
    }

const lg_scenario lg_scenarios[] = {
    {"health.check", "health", "grpc.health.v1.Health/Check: the runtime, no database", NULL,
     STEPS(steps_health), NULL, NULL},
    {"site.get", "read", "SiteService/GetSite of a reserve point", NULL, STEPS(steps_site_get),
     NULL, NULL},
    {"catalog.list", "read", "CatalogService/ListItems, 20 per page, by category", "items",
     STEPS(steps_list_items), NULL, NULL},
    {"stock.read", "read", "StockService/GetBalance: available stock of an item at a site", NULL,
     STEPS(steps_stock_read), setup_stock, NULL},
    {"stock.issue", "write", "StockService/Issue: 1 unit, one lot, FEFO", "units",
     STEPS(steps_stock_issue), setup_stock, NULL},
#ifdef HAVE_REQUISITIONS
    {"requisition.life", "write", "create+submit -> approve -> allocate -> dispatch -> receive",
     "requisitions", STEPS(steps_requisition), setup_stock, NULL},
#endif
#ifdef HAVE_FUNDS
    {"fund.disburse", "write", "prepare -> approve -> post one disbursement", "postings",
     STEPS(steps_disburse), setup_funds, NULL},
#else
    MISSING("fund.disburse", "write", "prepare -> approve -> post one disbursement",
            "no funds.proto in this build"),
#endif
#ifndef HAVE_REQUISITIONS
    MISSING("requisition.life", "write",
            "create+submit -> approve -> allocate -> dispatch -> receive",
            "no requisitions.proto in this build"),
#endif
#if defined(HAVE_FUNDS) && defined(HAVE_PROGRAMMES)
    {"fund.subsidy-batch", "write",
     "RunProgramme -> ApproveRun -> PostRun: a month's allowance for 10,000 payees", "postings",
     STEPS(steps_batch), setup_batch, NULL},
#else
    MISSING("fund.subsidy-batch", "write",
            "the monthly subsidy batch for 10,000 payees in one call",
            "no programmes.proto/funds.proto in this build"),
#endif
#ifdef HAVE_REPORTS
    {"fund.report", "read",
     "SpendingReport: one month by grid, then a year by street, over the generated ledger", "rows",
     STEPS(steps_report), NULL, NULL},
#else
    MISSING("fund.report", "read", "the spending report over a ledger of 10 M postings",
            "no reports.proto in this build"),
#endif
};
const size_t lg_n_scenarios = sizeof lg_scenarios / sizeof lg_scenarios[0];

const lg_scenario *lg_find_scenario(const char *name)
{
    for (size_t i = 0; i < lg_n_scenarios; i++)
        if (strcmp(lg_scenarios[i].name, name) == 0)
            return &lg_scenarios[i];
    return NULL;
}
