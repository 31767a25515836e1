"""spec.py — the authorization matrix as written intent: per RPC a request template (protobuf
JSON with $placeholders for the object under test), the permission the design gives it, and
how its object is scoped. `python3 tests/authz/spec.py` writes tests/authz/matrix.csv (one
row per RPC × role × object with the expected status), which test_authz_matrix.py runs.

Roles are exercised by users scoped to community CM01 (created by the test), so:
  own              an object in CM01 (site RP01, grid GR001, ...)
  other_community  the same kind of object in CM02 (same street ST01)
  other_street     the same kind of object in CM07 (street ST02)
  parent           the caller's street ST01 itself (its sites, accounts, programmes), or for
                   objects that hang on a grid, one in CM02
  district         the district root DC itself, or for grid objects one in CM07
  missing          an id/code that does not exist
Rules (DESIGN.md, docs/errors.md): a role without the method's permission gets
PERMISSION_DENIED before the request is even decoded; an object outside the caller's
subtree is NOT_FOUND exactly like a missing one. Where a handler adds its own rule (four
eyes, requisition read/act roles, district-only calls) it is listed in OVERRIDES with the
reason."""
import csv
import os

ROLES = ["admin", "logistics_officer", "community_staff", "finance_officer", "finance_approver",
         "point_leader", "auditor", "service"]
OBJECTS = ["own", "other_community", "other_street", "parent", "district", "missing"]

# auth.c's role → permission matrix as the design states it (DESIGN.md "Who uses it").
PERMS = {
    "admin": "*",
    "logistics_officer": {"directory.read", "site.write", "catalog.write", "stock.read", "stock.write",
                          "procure", "charity", "requisition.approve"},
    "community_staff": {"directory.read", "stock.read", "charity", "requisition.create"},
    "finance_officer": {"directory.read", "fund.read", "fund.prepare"},
    "finance_approver": {"directory.read", "fund.read", "fund.approve"},
    "point_leader": {"directory.read", "stock.read", "requisition.create", "emergency", "fund.read"},
    "auditor": {"directory.read", "stock.read", "fund.read", "audit.read"},
    "service": {"directory.read", "stock.read", "stock.write", "requisition.create", "fund.read"},
}


def has(role, perm):
    return perm is None or PERMS[role] == "*" or perm in PERMS[role]


# Scope kinds: how the object classes map to expectations for a role that may call.
#   scoped   own OK; other community, other street, missing NOT_FOUND
#   global   district-wide objects (catalog items, reasons): OK, OK, OK, missing NOT_FOUND
#   none     the request names no object: OK for every object class
SCOPED, GLOBAL, NONE = "scoped", "global", "none"

OK, NF, PD, IA, FP = "OK", "NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT", "FAILED_PRECONDITION"

# method → (permission, scope kind, request template). Streams are opened and must stay
# open (OK) or end at once with the expected status.
M = {}


def m(path, perm, kind, tmpl):
    M[path] = (perm, kind, tmpl)


# ---- standard services: no token needed
m("grpc.health.v1.Health/Check", None, NONE, {})
m("grpc.health.v1.Health/Watch", None, NONE, {})
m("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None, NONE, {"list_services": ""})
m("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None, NONE, {"list_services": ""})

D = "directory.read"
# ---- directory
m("OrgUnitService/GetOrgUnit", D, SCOPED, {"code": "$ou_code"})
m("OrgUnitService/ListOrgUnits", D, SCOPED, {"root_code": "$ou_code"})
m("OrgUnitService/GetOrgUnitTree", D, SCOPED, {"code": "$ou_code"})
m("OrgUnitService/GetOrgUnitStats", D, SCOPED, {"code": "$ou_code"})
m("CompoundService/GetCompound", D, SCOPED, {"code": "$compound_code"})
m("CompoundService/ListCompounds", D, SCOPED, {"org_unit_code": "$ou_code"})
m("UserService/CreateUser", "user.admin", SCOPED,
  {"login": "$new_login", "display_name": "Matrix user", "role": "community_staff", "scope_code": "$ou_code"})
m("UserService/UpdateUser", "user.admin", SCOPED,
  {"id": "$user", "display_name": "Renamed by matrix", "update_mask": ["display_name"]})
m("UserService/DeactivateUser", "user.admin", SCOPED, {"id": "$fresh_user"})
m("UserService/GetUser", "user.admin", SCOPED, {"id": "$user"})
m("UserService/ListUsers", "user.admin", SCOPED, {"scope_code": "$ou_code"})
m("UserService/RevokeUserTokens", "user.admin", SCOPED, {"id": "$user"})
m("UserService/WhoAmI", D, NONE, {})
m("SiteService/CreateSite", "site.write", SCOPED,
  {"code": "$new_code", "name": "Matrix point", "kind": "reserve_point", "org_unit_code": "$ou_code",
   "lat": 31.2, "lon": 107.46})
m("SiteService/UpdateSite", "site.write", SCOPED,
  {"id": "$site", "opening_hours": "07:00-21:00", "update_mask": ["opening_hours"]})
m("SiteService/DeactivateSite", "site.write", SCOPED, {"id": "$fresh_site"})
m("SiteService/GetSite", D, SCOPED, {"code": "$site_code"})
m("SiteService/ListSites", D, SCOPED, {"org_unit_code": "$ou_code"})
m("SiteService/NearestSites", D, NONE, {"lat": 31.21, "lon": 107.46, "limit": 3})
m("CatalogService/CreateItem", "catalog.write", NONE,
  {"code": "$new_code", "name": "Matrix item", "category": "other", "unit": "box"})
m("CatalogService/UpdateItem", "catalog.write", GLOBAL,
  {"id": "$item", "name": "Drinking water 5 L", "update_mask": ["name"]})
m("CatalogService/GetItem", D, GLOBAL, {"id": "$item"})
m("CatalogService/ListItems", D, NONE, {"query": "WATER"})
m("CatalogService/SetSiteItemLevel", "catalog.write", SCOPED,
  {"site_code": "$site_code", "item_code": "WATER-5L", "reorder_point": 10, "par_level": 40})
m("CatalogService/ListSiteItemLevels", D, SCOPED, {"site_code": "$site_code"})

# ---- stock
W, R = "stock.write", "stock.read"
m("StockService/Receive", W, SCOPED,
  {"site_code": "$site_code", "item_code": "WATER-5L", "qty": 5, "lot_code": "MX-1", "expires_on": "2030-01-01"})
m("StockService/Issue", W, SCOPED, {"site_code": "$site_code", "item_code": "WATER-5L", "qty": 1})
m("StockService/Adjust", W, SCOPED, {"lot_id": "$lot", "qty": 1, "reason": "found"})
m("StockService/WriteOffExpired", W, SCOPED, {"site_code": "$site_code"})
m("StockService/DispatchTransfer", W, SCOPED,
  {"from_site_code": "$site_code", "to_site_code": "$site2_code", "items": [{"item_code": "WATER-5L", "qty": 1}]})
m("StockService/ReceiveTransfer", W, SCOPED, {"transfer_id": "$transfer"})
m("StockService/GetTransfer", R, SCOPED, {"id": "$transfer"})
m("StockService/ListTransfers", R, SCOPED, {"site_code": "$site_code"})
m("StockService/OpenStocktake", W, SCOPED, {"site_code": "$site_no_stocktake"})
m("StockService/EnterCounts", W, SCOPED, {"stocktake_id": "$stocktake", "counts": [{"lot_id": "$lot", "counted": 50}]})
m("StockService/SubmitStocktake", W, SCOPED, {"stocktake_id": "$stocktake"})
m("StockService/GetStocktake", R, SCOPED, {"id": "$stocktake"})
m("StockService/GetBalance", R, SCOPED, {"site_code": "$site_code"})
m("StockService/ListBalances", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/StockAsOf", R, SCOPED, {"site_code": "$site_code", "at": "2030-01-01T00:00:00Z"})
m("StockService/StockCard", R, SCOPED, {"site_code": "$site_code", "item_code": "WATER-5L"})
m("StockService/ListMovements", R, SCOPED, {"site_code": "$site_code"})
m("StockService/LowStock", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/NearExpiry", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/CharityTransferProposals", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/StockByOrgUnit", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/VerifyStock", R, SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/ListAdjustmentReasons", R, NONE, {})
m("StockService/WatchStockAlerts", R, SCOPED, {"org_unit_code": "$ou_code"})

# ---- requisitions
C, A, E = "requisition.create", "requisition.approve", "emergency"
m("RequisitionService/Create", C, SCOPED,
  {"org_unit_code": "$grid_code", "purpose": "matrix", "lines": [{"item_code": "WATER-5L", "qty": 2}]})
m("RequisitionService/UpdateDraft", C, SCOPED, {"id": "$req_draft", "purpose": "changed", "update_mask": ["purpose"]})
m("RequisitionService/Submit", C, SCOPED, {"id": "$req_draft"})
m("RequisitionService/Get", D, SCOPED, {"id": "$req_draft"})
m("RequisitionService/List", D, SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/ApprovalQueue", A, SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/Approve", A, SCOPED, {"id": "$req_submitted"})
m("RequisitionService/ApproveBatch", A, SCOPED, {"approvals": [{"id": "$req_submitted"}]})
m("RequisitionService/Reject", A, SCOPED, {"id": "$req_submitted", "reason": "matrix"})
m("RequisitionService/Allocate", A, SCOPED, {"id": "$req_approved"})
m("RequisitionService/Dispatch", A, SCOPED, {"id": "$req_allocated"})
m("RequisitionService/ConfirmReceipt", C, SCOPED, {"id": "$req_dispatched"})
m("RequisitionService/Cancel", D, SCOPED, {"id": "$req_draft", "reason": "matrix"})
m("RequisitionService/Close", D, SCOPED, {"id": "$req_received"})
m("RequisitionService/History", D, SCOPED, {"id": "$req_draft"})
m("RequisitionService/WatchRequisitions", D, SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/SetEmergencyMode", E, SCOPED,
  {"org_unit_code": "$emergency_unit", "active": True, "hours": 1, "reason": "matrix"})
m("RequisitionService/ConfirmEmergencyMode", E, SCOPED, {"proposal_id": "$emergency_proposal"})
m("RequisitionService/GetEmergencyMode", D, SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/SetEmergencyCap", A, SCOPED, {"org_unit_code": "$grid_code", "item_code": "WATER-5L", "daily_qty": 5})
m("RequisitionService/ListEmergencyCaps", D, SCOPED, {"org_unit_code": "$ou_code"})

# ---- funds
FR, FP_, FA = "fund.read", "fund.prepare", "fund.approve"
m("FundService/CreateAccount", FP_, SCOPED, {"kind": "payee", "code": "$new_code", "name": "Matrix payee", "org_unit_code": "$ou_code"})
m("FundService/GetAccount", FR, SCOPED, {"grid_code": "$grid_code"})
m("FundService/ListAccounts", FR, SCOPED, {"org_unit_code": "$ou_code"})
m("FundService/SetBudget", FP_, SCOPED, {"grid_code": "$grid_code", "period": "2026", "category": "subsidies", "amount": 900000000})
m("FundService/ListBudgets", FR, SCOPED, {"org_unit_code": "$ou_code"})
m("FundService/ListPostings", FR, SCOPED, {"account_code": "$fund_code"})
m("FundService/VerifyLedger", FR, NONE, {})
M_ = "FundMovementService/"
m(M_ + "PrepareDeposit", FP_, SCOPED, {"source_code": "$source_code", "amount": 100, "memo": "matrix"})
m(M_ + "PrepareAllocation", FP_, SCOPED, {"source_code": "$source_code", "grid_code": "$grid_code", "amount": 100})
m(M_ + "PrepareAllocationBatch", FP_, SCOPED,
  {"source_code": "$source_code", "items": [{"grid_code": "$grid_code", "amount": 100}]})
m(M_ + "PrepareReversal", FP_, SCOPED, {"posting_id": "$posting", "reason": "matrix"})
m(M_ + "ApproveMovement", FA, SCOPED, {"id": "$move_prepared"})
m(M_ + "RejectMovement", FA, SCOPED, {"id": "$move_prepared", "reason": "matrix"})
m(M_ + "PostMovement", FA, SCOPED, {"id": "$move_approved"})
m(M_ + "VoidMovement", FR, SCOPED, {"id": "$move_prepared", "reason": "matrix"})
m(M_ + "GetMovement", FR, SCOPED, {"id": "$move_prepared"})
m(M_ + "ListMovements", FR, NONE, {})
m("DisbursementService/PrepareDisbursement", FP_, SCOPED,
  {"grid_code": "$grid_code", "payee_code": "$payee_code", "category": "subsidies", "amount": 100,
   "purpose": "matrix", "period": "2026-11"})
m("DisbursementService/UpdateDisbursement", FP_, SCOPED, {"id": "$disb_mine", "purpose": "changed", "update_mask": ["purpose"]})
m("DisbursementService/ApproveDisbursement", FA, SCOPED, {"id": "$disb_prepared"})
m("DisbursementService/RejectDisbursement", FA, SCOPED, {"id": "$disb_prepared", "reason": "matrix"})
m("DisbursementService/PostDisbursement", FA, SCOPED, {"id": "$disb_approved"})
m("DisbursementService/VoidDisbursement", FR, SCOPED, {"id": "$disb_prepared", "reason": "matrix"})
m("DisbursementService/GetDisbursement", FR, SCOPED, {"id": "$disb_prepared"})
m("DisbursementService/ListDisbursements", FR, SCOPED, {"org_unit_code": "$ou_code"})

# ---- procurement (every method: procure). Delivery sites and SetPrice's market are in the
# caller's scope; supplier markets are otherwise read district-wide (procurement.proto).
PR = "procure"
m("ProcurementService/SetPrice", PR, SCOPED,
  {"item_code": "WATER-5L", "supplier_site_code": "$market_code", "unit_price_fen": 500, "lead_time_days": 2})
m("ProcurementService/ListPrices", PR, GLOBAL, {"supplier_site_code": "$market_code", "include_all": True})
m("ProcurementService/CreateOrder", PR, SCOPED,
  {"supplier_site_code": "$market_code", "site_code": "$site_code",
   "lines": [{"item_code": "WATER-5L", "qty": 3, "unit_price_fen": 500}], "note": "matrix"})
m("ProcurementService/UpdateDraft", PR, SCOPED,
  {"order_id": "$po_draft", "lines": [{"item_code": "WATER-5L", "qty": 4, "unit_price_fen": 500}]})
m("ProcurementService/PlaceOrder", PR, SCOPED, {"order_id": "$po_draft"})
m("ProcurementService/CancelOrder", PR, SCOPED, {"order_id": "$po_draft", "reason": "matrix"})
m("ProcurementService/ReceiveAgainstOrder", PR, SCOPED,
  {"order_id": "$po_placed",
   "lines": [{"item_code": "WATER-5L", "qty": 1, "lot_code": "MX-PO", "expires_on": "2031-01-01"}]})
m("ProcurementService/GetOrder", PR, SCOPED, {"id": "$po_draft"})
m("ProcurementService/ListOrders", PR, SCOPED, {"site_code": "$site_code"})
m("ProcurementService/ProposeOrders", PR, SCOPED, {"org_unit_code": "$ou_code", "dry_run": True})

# ---- charity stations (every method: charity)
CH = "charity"
m("CharityService/RecordDonation", CH, SCOPED,
  {"site_code": "$station_code", "donor_name": "Matrix donor",
   "items": [{"item_code": "WATER-5L", "qty": 1, "expires_on": "2031-01-01"}]})
m("CharityService/ListDonations", CH, SCOPED, {"site_code": "$station_code"})
m("CharityService/Distribute", CH, SCOPED,
  {"site_code": "$station_code", "household": "$new_code", "grid_code": "$grid_code",
   "items": [{"item_code": "WATER-5L", "qty": 1}]})
m("CharityService/ListDistributions", CH, SCOPED, {"site_code": "$station_code"})
m("CharityService/SetQuota", CH, GLOBAL, {"item_id": "$item", "period": "week", "qty": 1000})
m("CharityService/ListQuotas", CH, GLOBAL, {"item_id": "$item"})

# ---- imports: catalog.write (items), procure (prices), stock.write (counts)
m("ImportService/ImportItems", "catalog.write", NONE,
  {"rows": [{"line": 2, "code": "$new_code", "name": "Matrix import", "category": "other", "unit": "box"}]})
m("ImportService/ImportPrices", PR, SCOPED,
  {"rows": [{"line": 2, "item_code": "WATER-5L", "supplier_site_code": "$market_code", "unit_price_fen": 500,
             "lead_time_days": 2}]})
m("ImportService/ImportCounts", W, SCOPED,
  {"stocktake_id": "$stocktake", "rows": [{"line": 2, "item_code": "WATER-5L", "lot_code": "MX-BASE",
                                           "counted": 100000}]})

# ---- subsidy programmes
m("ProgrammeService/CreateProgramme", FP_, SCOPED,
  {"code": "$new_code", "name": "Matrix programme", "kind": "volunteer_allowance", "category": "subsidies",
   "amount": 100, "org_unit_code": "$ou_code"})
m("ProgrammeService/UpdateProgramme", FP_, SCOPED, {"id": "$programme", "name": "Renamed", "update_mask": ["name"]})
m("ProgrammeService/GetProgramme", FR, SCOPED, {"id": "$programme"})
m("ProgrammeService/ListProgrammes", FR, NONE, {})
m("ProgrammeService/SetProgrammeMembers", FP_, SCOPED,
  {"programme_id": "$programme", "members": [{"payee_code": "$payee_code", "grid_code": "$grid_code", "amount": 50}]})
m("ProgrammeService/ListProgrammeMembers", FR, SCOPED, {"programme_id": "$programme"})
m("ProgrammeService/EnterScores", FP_, SCOPED,
  {"period": "2026-Q3", "scores": [{"grid_code": "$grid_code", "score": 80}]})
m("ProgrammeService/ListScores", FR, SCOPED, {"period": "2026-Q3", "org_unit_code": "$ou_code"})
m("ProgrammeService/RunProgramme", FP_, SCOPED, {"programme_id": "$programme", "period": "2026-11"})
m("ProgrammeService/GetRun", FR, SCOPED, {"id": "$run"})
m("ProgrammeService/ListRuns", FR, NONE, {})
m("ProgrammeService/ListRunItems", FR, SCOPED, {"run_id": "$run"})
m("ProgrammeService/ApproveRun", FA, SCOPED, {"id": "$run"})
m("ProgrammeService/PostRun", FA, SCOPED, {"id": "$run_approved"})

# ---- fund reports (fund.read, within the caller's scope)
for _r in ("SpendingReport", "BudgetUtilisation", "Balances", "DisbursementRegister", "ReviewFlags",
           "ExportHtmlReport"):
    m("FundReportService/" + _r, FR, SCOPED, {"org_unit_code": "$ou_code"})

# Batch calls answer OK and report each item's status in the response: the matrix compares
# the first item's code. Such a call still stores its request id and an audit row of what
# it did (nothing), so for item-level refusals those two tables may change.
BATCH = {"RequisitionService/ApproveBatch": "results"}
BATCH_MAY_WRITE = {"request_log", "audit_log"}

# Handler rules beyond the permission table: (method, role or "*", object or "*") → status.
# The first match wins; each carries why.
OVERRIDES = [
    # Requisitions are read by the roles that work with them (requisitions.proto: "Reading
    # needs any of these or audit.read"): finance roles are refused.
    (("RequisitionService/Get", "RequisitionService/List", "RequisitionService/History",
      "RequisitionService/WatchRequisitions"), ("finance_officer", "finance_approver"), "*", PD,
     "req_check_read: reading requisitions needs requisition.create/approve, emergency or audit.read"),
    # Cancel and Close are open to both sides, not to readers (req_check_act).
    (("RequisitionService/Cancel", "RequisitionService/Close"), ("finance_officer", "finance_approver", "auditor"),
     "*", PD, "req_check_act: needs requisition.create or requisition.approve"),
    # Void: the preparer cancels or the approver withdraws (needs prepare or approve).
    (("DisbursementService/VoidDisbursement",), ("community_staff", "logistics_officer", "point_leader", "auditor",
                                                "service"), "*", PD,
     "void_disb: needs fund.prepare or fund.approve"),
    (("FundMovementService/VoidMovement",), ("community_staff", "logistics_officer", "point_leader", "auditor",
                                             "service"), "*", PD,
     "void_move: needs fund.prepare or fund.approve"),
    # VerifyLedger checks the whole ledger: a community-scoped caller is refused.
    (("FundService/VerifyLedger",), "*", "*", PD, "verify_ledger: needs a district-wide scope"),
    # Emergency caps are set by a role that cannot raise requisitions (issue 14): admin
    # holds requisition.create.
    (("RequisitionService/SetEmergencyCap",), ("admin",), "*", PD,
     "set_emergency_cap: a role that can raise requisitions may not set their caps"),
    # The catalog is the district's: every matrix user is scoped to community CM01.
    (("CatalogService/CreateItem", "CatalogService/UpdateItem", "ImportService/ImportItems"), "*", "*", PD,
     "catalog writes need a user whose scope is the district"),
    # Programmes declared above the caller's scope apply to the grids in it (programmes.proto:
    # visible when the programme's subtree and the caller's overlap): the caller reads them
    # and runs them for its own grids only; members, run items and totals are trimmed to the
    # caller's scope, approving or posting a run touches only the caller's part, and only
    # the programme's own level may change it.
    (("ProgrammeService/GetProgramme", "ProgrammeService/GetRun", "ProgrammeService/ListProgrammeMembers",
      "ProgrammeService/ListRunItems", "ProgrammeService/RunProgramme"), "*", ("parent", "district"), OK,
     "an enclosing programme applies to the caller's grids; what it lists is trimmed to the scope"),
    (("ProgrammeService/ApproveRun", "ProgrammeService/PostRun"), "*", ("parent", "district"), FP,
     "a run of an enclosing programme: nothing of it in the caller's scope to approve or post"),
    (("ProgrammeService/UpdateProgramme",), "*", ("parent", "district"), PD,
     "update_programme: only the programme's own level changes it"),
    # Quotas hold across every charity station of the district (charity.proto SetQuota):
    # h_set_quota refuses any caller whose scope is not the whole district, before it
    # looks the item up, and every matrix user is scoped to community CM01.
    (("CharityService/SetQuota",), "*", "*", PD, "set_quota: only a user whose scope is the district"),
]


def expected(path, role, obj):
    perm, kind, _ = M[path]
    if not has(role, perm):
        return PD, "role lacks " + str(perm)
    for methods, roles, objs, status, why in OVERRIDES:
        if path in methods and (roles == "*" or role in roles) and (objs == "*" or obj in objs):
            return status, why
    if kind == NONE:
        return OK, ""
    if kind == GLOBAL:
        return (NF, "") if obj == "missing" else (OK, "")
    return (OK, "") if obj == "own" else (NF, "out of scope or missing")


def rows():
    for path in M:
        for role in ROLES:
            for obj in OBJECTS:
                status, why = expected(path, role, obj)
                yield path, role, obj, status, why


def write_requests(path):
    import json
    with open(path, "w") as f:
        json.dump({k: v[2] for k, v in M.items()}, f, indent=1, sort_keys=True)
        f.write("\n")


def write_csv(path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "role", "object", "expected", "why"])
        for r in rows():
            w.writerow(r)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write_csv(os.path.join(here, "matrix.csv"))
    write_requests(os.path.join(here, "requests.json"))
