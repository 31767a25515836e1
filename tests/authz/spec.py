"""spec.py — the authorization matrix as written intent: per RPC a request template (protobuf
JSON with $placeholders for the object under test) and how its object is scoped; the
permission each RPC needs is read from its options in the .proto files (options.proto, the
declaration the server's method table is generated from), the roles' permissions are the
design's, written out below. `python3 tests/authz/spec.py` writes tests/authz/matrix.csv (one
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
subtree is NOT_FOUND exactly like a missing one. Where a handler adds its own rule (district-
only calls, caps by a role that cannot raise requisitions) it is listed in OVERRIDES with the
reason."""
import csv
import os
import sys

SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SOURCE_DIR, "scripts"))
import gs_options  # noqa: E402

# "<Service>/<Method>" → its options (perm, mutates, ...), from the .proto files.
OPTIONS = gs_options.methods(gs_options.descriptor_set(SOURCE_DIR))

ROLES = ["admin", "logistics_officer", "community_staff", "finance_officer", "finance_approver",
         "point_leader", "auditor", "service"]
OBJECTS = ["own", "other_community", "other_street", "parent", "district", "missing"]

# auth.c's role → permission matrix as the design states it (DESIGN.md "Who uses it").
PERMS = {
    "admin": "*",
    "logistics_officer": {"directory.read", "site.write", "catalog.write", "stock.read", "stock.write",
                          "procure", "charity", "requisition.approve"},
    "community_staff": {"directory.read", "stock.read", "charity", "requisition.create", "household"},
    "finance_officer": {"directory.read", "fund.read", "fund.prepare"},
    "finance_approver": {"directory.read", "fund.read", "fund.approve"},
    "point_leader": {"directory.read", "stock.read", "requisition.create", "emergency", "fund.read"},
    "auditor": {"directory.read", "stock.read", "fund.read", "audit.read"},
    "service": {"directory.read", "stock.read", "stock.write", "requisition.create", "fund.read"},
}


# Derived permissions (options.proto, auth.c): a role holds one when it holds any of these.
DERIVED = {
    "requisition.read": {"requisition.create", "requisition.approve", "emergency", "audit.read"},
    "requisition.act": {"requisition.create", "requisition.approve"},
    "fund.void": {"fund.prepare", "fund.approve"},
}


def has(role, perm):
    if perm is None or PERMS[role] == "*":
        return True
    return perm in PERMS[role] or bool(DERIVED.get(perm, set()) & PERMS[role])


# Scope kinds: how the object classes map to expectations for a role that may call.
#   scoped   own OK; other community, other street, missing NOT_FOUND
#   global   district-wide objects (catalog items, reasons): OK, OK, OK, missing NOT_FOUND
#   none     the request names no object: OK for every object class
SCOPED, GLOBAL, NONE = "scoped", "global", "none"

OK, NF, PD, IA, FP = "OK", "NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT", "FAILED_PRECONDITION"

# method → (permission, scope kind, request template). Streams are opened and must stay
# open (OK) or end at once with the expected status. The standard services have no perm.
M = {}


def m(path, kind, tmpl):
    M[path] = (OPTIONS[path].perm, kind, tmpl)


# ---- standard services: no token needed
m("grpc.health.v1.Health/Check", NONE, {})
m("grpc.health.v1.Health/Watch", NONE, {})
m("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", NONE, {"list_services": ""})
m("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", NONE, {"list_services": ""})

# ---- directory
m("OrgUnitService/GetOrgUnit", SCOPED, {"code": "$ou_code"})
m("OrgUnitService/ListOrgUnits", SCOPED, {"root_code": "$ou_code"})
m("OrgUnitService/GetOrgUnitTree", SCOPED, {"code": "$ou_code"})
m("OrgUnitService/GetOrgUnitStats", SCOPED, {"code": "$ou_code"})
m("CompoundService/GetCompound", SCOPED, {"code": "$compound_code"})
m("CompoundService/ListCompounds", SCOPED, {"org_unit_code": "$ou_code"})
m("UserService/CreateUser", SCOPED,
  {"login": "$new_login", "display_name": "Matrix user", "role": "community_staff", "scope_code": "$ou_code"})
m("UserService/UpdateUser", SCOPED,
  {"id": "$user", "display_name": "Renamed by matrix", "update_mask": ["display_name"]})
m("UserService/DeactivateUser", SCOPED, {"id": "$fresh_user"})
m("UserService/GetUser", SCOPED, {"id": "$user"})
m("UserService/ListUsers", SCOPED, {"scope_code": "$ou_code"})
m("UserService/RevokeUserTokens", SCOPED, {"id": "$user"})
m("UserService/WhoAmI", NONE, {})
m("SiteService/CreateSite", SCOPED,
  {"code": "$new_code", "name": "Matrix point", "kind": "reserve_point", "org_unit_code": "$ou_code",
   "lat": 31.2, "lon": 107.46})
m("SiteService/UpdateSite", SCOPED,
  {"id": "$site", "opening_hours": "07:00-21:00", "update_mask": ["opening_hours"]})
m("SiteService/DeactivateSite", SCOPED, {"id": "$fresh_site"})
m("SiteService/GetSite", SCOPED, {"code": "$site_code"})
m("SiteService/ListSites", SCOPED, {"org_unit_code": "$ou_code"})
m("SiteService/NearestSites", NONE, {"lat": 31.21, "lon": 107.46, "limit": 3})
m("CatalogService/CreateItem", NONE,
  {"code": "$new_code", "name": "Matrix item", "category": "other", "unit": "box"})
m("CatalogService/UpdateItem", GLOBAL,
  {"id": "$item", "name": "Drinking water 5 L", "update_mask": ["name"]})
m("CatalogService/GetItem", GLOBAL, {"id": "$item"})
m("CatalogService/ListItems", NONE, {"query": "WATER"})
m("CatalogService/SetSiteItemLevel", SCOPED,
  {"site_code": "$site_code", "item_code": "WATER-5L", "reorder_point": 10, "par_level": 40})
m("CatalogService/ListSiteItemLevels", SCOPED, {"site_code": "$site_code"})

# ---- stock
m("StockService/Receive", SCOPED,
  {"site_code": "$site_code", "item_code": "WATER-5L", "qty": 5, "lot_code": "MX-1", "expires_on": "2030-01-01"})
m("StockService/Issue", SCOPED, {"site_code": "$site_code", "item_code": "WATER-5L", "qty": 1})
m("StockService/Adjust", SCOPED, {"lot_id": "$lot", "qty": 1, "reason": "found"})
m("StockService/WriteOffExpired", SCOPED, {"site_code": "$site_code"})
m("StockService/DispatchTransfer", SCOPED,
  {"from_site_code": "$site_code", "to_site_code": "$site2_code", "items": [{"item_code": "WATER-5L", "qty": 1}]})
m("StockService/ReceiveTransfer", SCOPED, {"transfer_id": "$transfer"})
m("StockService/GetTransfer", SCOPED, {"id": "$transfer"})
m("StockService/ListTransfers", SCOPED, {"site_code": "$site_code"})
m("StockService/OpenStocktake", SCOPED, {"site_code": "$site_no_stocktake"})
m("StockService/EnterCounts", SCOPED, {"stocktake_id": "$stocktake", "counts": [{"lot_id": "$lot", "counted": 50}]})
m("StockService/SubmitStocktake", SCOPED, {"stocktake_id": "$stocktake"})
m("StockService/GetStocktake", SCOPED, {"id": "$stocktake"})
m("StockService/GetBalance", SCOPED, {"site_code": "$site_code"})
m("StockService/ListBalances", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/StockAsOf", SCOPED, {"site_code": "$site_code", "at": "2030-01-01T00:00:00Z"})
m("StockService/StockCard", SCOPED, {"site_code": "$site_code", "item_code": "WATER-5L"})
m("StockService/ListMovements", SCOPED, {"site_code": "$site_code"})
m("StockService/LowStock", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/NearExpiry", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/ExportDashboard", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/CharityTransferProposals", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/StockByOrgUnit", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/VerifyStock", SCOPED, {"org_unit_code": "$ou_code"})
m("StockService/ListAdjustmentReasons", NONE, {})
m("StockService/WatchStockAlerts", SCOPED, {"org_unit_code": "$ou_code"})
# issue 18 (money): reserves valued in yuan
m("StockService/ValueStock", SCOPED, {"org_unit_code": "$ou_code"})

# ---- requisitions
m("RequisitionService/Create", SCOPED,
  {"org_unit_code": "$grid_code", "purpose": "matrix", "lines": [{"item_code": "WATER-5L", "qty": 2}]})
m("RequisitionService/UpdateDraft", SCOPED, {"id": "$req_draft", "purpose": "changed", "update_mask": ["purpose"]})
m("RequisitionService/Submit", SCOPED, {"id": "$req_draft"})
m("RequisitionService/Get", SCOPED, {"id": "$req_draft"})
m("RequisitionService/List", SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/ApprovalQueue", SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/Approve", SCOPED, {"id": "$req_submitted"})
m("RequisitionService/ApproveBatch", SCOPED, {"approvals": [{"id": "$req_submitted"}]})
m("RequisitionService/Reject", SCOPED, {"id": "$req_submitted", "reason": "matrix"})
m("RequisitionService/Allocate", SCOPED, {"id": "$req_approved"})
m("RequisitionService/Dispatch", SCOPED, {"id": "$req_allocated"})
m("RequisitionService/ConfirmReceipt", SCOPED, {"id": "$req_dispatched"})
m("RequisitionService/Cancel", SCOPED, {"id": "$req_draft", "reason": "matrix"})
m("RequisitionService/Close", SCOPED, {"id": "$req_received"})
m("RequisitionService/History", SCOPED, {"id": "$req_draft"})
m("RequisitionService/WatchRequisitions", SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/SetEmergencyMode", SCOPED,
  {"org_unit_code": "$emergency_unit", "active": True, "hours": 1, "reason": "matrix"})
m("RequisitionService/ConfirmEmergencyMode", SCOPED, {"proposal_id": "$emergency_proposal"})
m("RequisitionService/GetEmergencyMode", SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/SetEmergencyCap", SCOPED, {"org_unit_code": "$grid_code", "item_code": "WATER-5L", "daily_qty": 5})
m("RequisitionService/ListEmergencyCaps", SCOPED, {"org_unit_code": "$ou_code"})
# supply agreements with supplier markets and their emergency call-offs (procure)
m("RequisitionService/CreateSupplyAgreement", SCOPED,
  {"supplier_site_code": "$market_code", "org_unit_code": "$ou_code", "delivery_hours": 4,
   "valid_from": "2026-01-01", "valid_until": "2030-12-31", "fund_account_code": "$source_code",
   "items": [{"item_code": "WATER-5L", "daily_qty": 10, "price_cap_fen": 600}]})
m("RequisitionService/ListSupplyAgreements", SCOPED, {"org_unit_code": "$ou_code"})
m("RequisitionService/EndSupplyAgreement", SCOPED, {"id": "$supply_agreement", "reason": "matrix"})
m("RequisitionService/ListCallOffs", NONE, {})
# the requester's view of the call-offs made for its requisitions (requisition.read)
m("RequisitionService/ListRequestedCallOffs", SCOPED, {"requisition_id": "$req_draft"})

# ---- funds
m("FundService/CreateAccount", SCOPED, {"kind": "payee", "code": "$new_code", "name": "Matrix payee", "org_unit_code": "$ou_code"})
m("FundService/GetAccount", SCOPED, {"grid_code": "$grid_code"})
m("FundService/ListAccounts", SCOPED, {"org_unit_code": "$ou_code"})
m("FundService/SetBudget", SCOPED, {"grid_code": "$grid_code", "period": "2026", "category": "subsidies", "amount": 900000000})
m("FundService/ListBudgets", SCOPED, {"org_unit_code": "$ou_code"})
m("FundService/ListPostings", SCOPED, {"account_code": "$fund_code"})
m("FundService/VerifyLedger", NONE, {})
M_ = "FundMovementService/"
m(M_ + "PrepareDeposit", SCOPED, {"source_code": "$source_code", "amount": 100, "memo": "matrix"})
m(M_ + "PrepareAllocation", SCOPED, {"source_code": "$source_code", "grid_code": "$grid_code", "amount": 100})
m(M_ + "PrepareAllocationBatch", SCOPED,
  {"source_code": "$source_code", "items": [{"grid_code": "$grid_code", "amount": 100}]})
m(M_ + "PrepareReversal", SCOPED, {"posting_id": "$posting", "reason": "matrix"})
m(M_ + "ApproveMovement", SCOPED, {"id": "$move_prepared"})
m(M_ + "RejectMovement", SCOPED, {"id": "$move_prepared", "reason": "matrix"})
m(M_ + "PostMovement", SCOPED, {"id": "$move_approved"})
m(M_ + "VoidMovement", SCOPED, {"id": "$move_prepared", "reason": "matrix"})
m(M_ + "GetMovement", SCOPED, {"id": "$move_prepared"})
m(M_ + "ListMovements", NONE, {})
m("DisbursementService/PrepareDisbursement", SCOPED,
  {"grid_code": "$grid_code", "payee_code": "$payee_code", "category": "subsidies", "amount": 100,
   "purpose": "matrix", "period": "2026-11"})
m("DisbursementService/UpdateDisbursement", SCOPED, {"id": "$disb_mine", "purpose": "changed", "update_mask": ["purpose"]})
m("DisbursementService/ApproveDisbursement", SCOPED, {"id": "$disb_prepared"})
m("DisbursementService/RejectDisbursement", SCOPED, {"id": "$disb_prepared", "reason": "matrix"})
m("DisbursementService/PostDisbursement", SCOPED, {"id": "$disb_approved"})
m("DisbursementService/VoidDisbursement", SCOPED, {"id": "$disb_prepared", "reason": "matrix"})
m("DisbursementService/GetDisbursement", SCOPED, {"id": "$disb_prepared"})
m("DisbursementService/ListDisbursements", SCOPED, {"org_unit_code": "$ou_code"})

# ---- procurement (every method: procure). Delivery sites and SetPrice's market are in the
# caller's scope; supplier markets are otherwise read district-wide (procurement.proto).
m("ProcurementService/SetPrice", SCOPED,
  {"item_code": "WATER-5L", "supplier_site_code": "$market_code", "unit_price_fen": 500, "lead_time_days": 2})
m("ProcurementService/ListPrices", GLOBAL, {"supplier_site_code": "$market_code", "include_all": True})
m("ProcurementService/CreateOrder", SCOPED,
  {"supplier_site_code": "$market_code", "site_code": "$site_code",
   "lines": [{"item_code": "WATER-5L", "qty": 3, "unit_price_fen": 500}], "note": "matrix"})
m("ProcurementService/UpdateDraft", SCOPED,
  {"order_id": "$po_draft", "lines": [{"item_code": "WATER-5L", "qty": 4, "unit_price_fen": 500}]})
m("ProcurementService/PlaceOrder", SCOPED, {"order_id": "$po_draft"})
m("ProcurementService/CancelOrder", SCOPED, {"order_id": "$po_draft", "reason": "matrix"})
m("ProcurementService/ReceiveAgainstOrder", SCOPED,
  {"order_id": "$po_placed",
   "lines": [{"item_code": "WATER-5L", "qty": 1, "lot_code": "MX-PO", "expires_on": "2031-01-01"}]})
m("ProcurementService/GetOrder", SCOPED, {"id": "$po_draft"})
m("ProcurementService/ListOrders", SCOPED, {"site_code": "$site_code"})
m("ProcurementService/ProposeOrders", SCOPED, {"org_unit_code": "$ou_code", "dry_run": True})

# ---- charity stations (every method: charity)
m("CharityService/RecordDonation", SCOPED,
  {"site_code": "$station_code", "donor_name": "Matrix donor",
   "items": [{"item_code": "WATER-5L", "qty": 1, "expires_on": "2031-01-01"}]})
m("CharityService/ListDonations", SCOPED, {"site_code": "$station_code"})
m("CharityService/Distribute", SCOPED,
  {"site_code": "$station_code", "household": "$new_code", "grid_code": "$grid_code",
   "items": [{"item_code": "WATER-5L", "qty": 1}]})
m("CharityService/ListDistributions", SCOPED, {"site_code": "$station_code"})
m("CharityService/SetQuota", GLOBAL, {"item_id": "$item", "period": "week", "qty": 1000})
m("CharityService/ListQuotas", GLOBAL, {"item_id": "$item"})
m("CharityService/SetQuotaRule", GLOBAL, {"item_id": "$item", "period": "month", "basis": "member", "qty": 1000})
m("CharityService/ListQuotaRules", NONE, {})
m("CharityService/SetWalkInRule", NONE, {"serves": 100})
m("CharityService/AcceptTransferProposal", SCOPED, {"lot_id": "$near_expiry_lot", "to_site_code": "$station_code",
                                                   "qty": 1})
m("CharityService/RescueReport", SCOPED, {"org_unit_code": "$ou_code"})

# ---- the household register (issue 19; every method: household, scoped to the grid)
m("HouseholdService/RegisterHousehold", SCOPED,
  {"grid_code": "$grid_code", "id_number": "$new_id_number", "head_name": "Matrix", "members": 1})
m("HouseholdService/UpdateHousehold", SCOPED, {"id": "$fresh_household", "head_name": "Matrix", "members": 2})
m("HouseholdService/MoveHousehold", SCOPED, {"id": "$fresh_household", "to_grid_code": "GR100"})
m("HouseholdService/GetHousehold", SCOPED, {"id": "$fresh_household"})
m("HouseholdService/ListHouseholds", SCOPED, {"org_unit_code": "$ou_code"})
m("HouseholdService/HelpedReport", SCOPED, {"org_unit_code": "$ou_code"})
m("HouseholdService/DoorToDoor", SCOPED, {"org_unit_code": "$ou_code"})

# ---- imports: catalog.write (items), procure (prices), stock.write (counts)
m("ImportService/ImportItems", NONE,
  {"rows": [{"line": 2, "code": "$new_code", "name": "Matrix import", "category": "other", "unit": "box"}]})
m("ImportService/ImportPrices", SCOPED,
  {"rows": [{"line": 2, "item_code": "WATER-5L", "supplier_site_code": "$market_code", "unit_price_fen": 500,
             "lead_time_days": 2}]})
m("ImportService/ImportCounts", SCOPED,
  {"stocktake_id": "$stocktake", "rows": [{"line": 2, "item_code": "WATER-5L", "lot_code": "MX-BASE",
                                           "counted": 100000}]})

# ---- subsidy programmes
m("ProgrammeService/CreateProgramme", SCOPED,
  {"code": "$new_code", "name": "Matrix programme", "kind": "volunteer_allowance", "category": "subsidies",
   "amount": 100, "org_unit_code": "$ou_code"})
m("ProgrammeService/UpdateProgramme", SCOPED, {"id": "$programme", "name": "Renamed", "update_mask": ["name"]})
m("ProgrammeService/GetProgramme", SCOPED, {"id": "$programme"})
m("ProgrammeService/ListProgrammes", NONE, {})
m("ProgrammeService/SetProgrammeMembers", SCOPED,
  {"programme_id": "$programme", "members": [{"payee_code": "$payee_code", "grid_code": "$grid_code", "amount": 50}]})
m("ProgrammeService/ListProgrammeMembers", SCOPED, {"programme_id": "$programme"})
m("ProgrammeService/EnterScores", SCOPED,
  {"period": "2026-Q3", "scores": [{"grid_code": "$grid_code", "score": 80}]})
m("ProgrammeService/ListScores", SCOPED, {"period": "2026-Q3", "org_unit_code": "$ou_code"})
m("ProgrammeService/RunProgramme", SCOPED, {"programme_id": "$programme", "period": "2026-11"})
m("ProgrammeService/GetRun", SCOPED, {"id": "$run"})
m("ProgrammeService/ListRuns", NONE, {})
m("ProgrammeService/ListRunItems", SCOPED, {"run_id": "$run"})
m("ProgrammeService/ApproveRun", SCOPED, {"id": "$run"})
m("ProgrammeService/PostRun", SCOPED, {"id": "$run_approved"})

# ---- fund reports (fund.read, within the caller's scope)
for _r in ("SpendingReport", "BudgetUtilisation", "Balances", "DisbursementRegister", "ReviewFlags",
           "ExportHtmlReport"):
    m("FundReportService/" + _r, SCOPED, {"org_unit_code": "$ou_code"})

# ---- audit trail (audit.read): rows filed under the caller's scope (audit.proto)
m("AuditService/List", SCOPED, {"org_unit_code": "$ou_code"})
m("AuditService/Get", SCOPED, {"id": "$audit_row"})
m("AuditService/History", SCOPED, {"object": "$site_object"})
m("AuditService/VerifyChain", NONE, {})

# Batch calls answer OK and report each item's status in the response: the matrix compares
# the first item's code. Such a call still stores its request id and an audit row of what
# it did (nothing), so for item-level refusals those two tables may change.
BATCH = {"RequisitionService/ApproveBatch": "results"}
BATCH_MAY_WRITE = {"request_log", "audit_log"}

# Handler rules beyond the permission table: (method, role or "*", object or "*") → status.
# The first match wins; each carries why.
OVERRIDES = [
    # VerifyLedger checks the whole ledger: a community-scoped caller is refused.
    (("FundService/VerifyLedger",), "*", "*", PD, "fund_verify_ledger: needs a district-wide scope"),
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
    (("AuditService/VerifyChain",), "*", "*", PD, "audit_verify_chain: needs a district-wide scope"),
    # Quotas hold across every charity station of the district (charity.proto SetQuota):
    # charity_set_quota refuses any caller whose scope is not the whole district, before it
    # looks the item up, and every matrix user is scoped to community CM01.
    (("CharityService/SetQuota",), "*", "*", PD, "set_quota: only a user whose scope is the district"),
    (("CharityService/SetQuotaRule", "CharityService/SetWalkInRule"), "*", "*", PD,
     "quota and walk-in rules hold across the district: only a user whose scope is the district"),
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
