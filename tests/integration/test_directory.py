"""The directory services against the demo district: org units (get, list, tree, stats),
compounds, sites (CRUD, nearest), the catalog (items, site levels) and users (admin CRUD,
revocation, WhoAmI). Every mutation is checked for its audit row; refusals (role, scope,
validation) are checked to change nothing."""
import time
import uuid

import grpc
import pytest

from gridstock.v1 import catalog_pb2, compounds_pb2, org_units_pb2, sites_pb2, users_pb2
from harness.sql import one

Code = grpc.StatusCode


def uid(prefix="T"):
    return prefix + uuid.uuid4().hex[:8].upper()


def walk(server, path, req, resp_cls, field, login="admin", **kw):
    """Every item of a paginated list, following next_page_token; returns (items, pages)."""
    items, pages = [], 0
    while True:
        resp = server.call_ok(path, req, resp_cls, login=login, **kw)
        pages += 1
        items.extend(getattr(resp, field))
        if not resp.next_page_token:
            return items, pages
        req.page_token = resp.next_page_token
        assert pages < 1000


def audit_rows(db, obj):
    return db.execute(
        "SELECT login, method, summary FROM audit_log WHERE object = %s ORDER BY id", (obj,)
    ).fetchall()


# ---------------------------------------------------------------- org units


def stats(server, login="admin", **kw):
    return server.call(
        "OrgUnitService/GetOrgUnitStats",
        org_units_pb2.GetOrgUnitStatsRequest(**kw),
        org_units_pb2.OrgUnitStats,
        login=login,
    )


def test_demo_counts_of_the_district(server):
    s, code, details = stats(server, code="DC")
    assert code == Code.OK, details
    assert s.org_unit.code == "DC" and s.org_unit.kind == "district"
    assert (s.streets, s.communities, s.grids) == (6, 28, 208)
    assert (s.compounds, s.three_no_compounds) == (538, 373)
    assert s.residents == 208 * 1507
    assert s.reserve_points == 28 and s.charity_stations == 14 and s.supplier_markets == 10
    assert s.active_users > 270
    # no id or code: the caller's own scope unit
    d, code, details = stats(server)
    assert code == Code.OK, details
    assert d == s


def test_stats_of_a_community_for_its_staff(server, db):
    s, code, details = stats(server, login="staff.cm01")
    assert code == Code.OK, details
    assert s.org_unit.code == "CM01"
    assert s.communities == 1 and s.streets == 0
    assert s.grids == one(
        db, "SELECT count(*) FROM org_units g JOIN org_units c ON c.id = g.parent_id WHERE c.code = 'CM01'"
    )
    assert s.compounds == one(
        db,
        """SELECT count(*) FROM compounds cp JOIN org_units g ON g.id = cp.org_unit_id
           WHERE g.path <@ (SELECT path FROM org_units WHERE code = 'CM01')""",
    )
    # the district is outside a community's scope
    _, code, details = stats(server, login="staff.cm01", code="DC")
    assert code == Code.NOT_FOUND and details == 'org unit "DC" not found'


def test_get_org_unit_by_id_and_code(server, db):
    gr1 = one(db, "SELECT id FROM org_units WHERE code = 'GR001'")
    cm1 = one(db, "SELECT id FROM org_units WHERE code = 'CM01'")
    u = server.call_ok(
        "OrgUnitService/GetOrgUnit", org_units_pb2.GetOrgUnitRequest(code="GR001"), org_units_pb2.OrgUnit, login="admin"
    )
    assert (u.id, u.kind, u.parent_id, u.parent_code, u.level) == (gr1, "grid", cm1, "CM01", 4)
    assert u.residents > 0 and u.area_km2 > 0 and u.child_count == 0
    assert u.path.endswith("." + str(gr1))
    c = server.call_ok(
        "OrgUnitService/GetOrgUnit", org_units_pb2.GetOrgUnitRequest(id=cm1), org_units_pb2.OrgUnit, login="staff.cm01"
    )
    assert c.code == "CM01" and c.name == "Nanbin Community"
    assert c.child_count == one(db, "SELECT count(*) FROM org_units WHERE parent_id = %s", cm1) > 0


def test_get_org_unit_out_of_scope_looks_like_missing(server, db):
    gr2 = one(db, "SELECT id FROM org_units WHERE code = 'GR002'")
    missing = one(db, "SELECT max(id) + 1000 FROM org_units")
    call = lambda req: server.call(  # noqa: E731
        "OrgUnitService/GetOrgUnit", req, org_units_pb2.OrgUnit, login="leader.gr001"
    )
    _, code1, d1 = call(org_units_pb2.GetOrgUnitRequest(id=gr2))
    _, code2, d2 = call(org_units_pb2.GetOrgUnitRequest(id=missing))
    assert code1 == code2 == Code.NOT_FOUND
    assert d1 == "org unit %d not found" % gr2 and d2 == "org unit %d not found" % missing
    _, code, d = call(org_units_pb2.GetOrgUnitRequest())
    assert code == Code.INVALID_ARGUMENT and d.startswith("id:")


def test_list_org_units_walks_all_208_grids(server):
    req = org_units_pb2.ListOrgUnitsRequest(kind="grid", page_size=50)
    grids, pages = walk(server, "OrgUnitService/ListOrgUnits", req, org_units_pb2.ListOrgUnitsResponse, "org_units")
    assert pages == 5
    assert [g.code for g in grids] == ["GR%03d" % n for n in range(1, 209)]
    ids = [g.id for g in grids]
    assert ids == sorted(ids) and len(set(ids)) == 208


def test_list_org_units_filters(server, db):
    def lst(login="admin", **kw):
        return server.call_ok(
            "OrgUnitService/ListOrgUnits",
            org_units_pb2.ListOrgUnitsRequest(page_size=1000, **kw),
            org_units_pb2.ListOrgUnitsResponse,
            login=login,
        ).org_units

    streets = lst(parent_code="DC")
    assert [s.code for s in streets] == ["ST%02d" % n for n in range(1, 7)]
    st01 = lst(root_code="ST01")
    assert len(st01) == one(
        db, "SELECT count(*) FROM org_units WHERE path <@ (SELECT path FROM org_units WHERE code = 'ST01')"
    )
    assert st01[0].code == "ST01"
    assert {u.code for u in lst(root_code="ST01", kind="community")} == {"CM%02d" % n for n in range(1, 7)}
    nanbin = lst(name="nanBIN", kind="community")
    assert [u.code for u in nanbin] == ["CM01"]
    # a grid leader sees only their grid, whatever they ask for
    assert [u.code for u in lst(login="leader.gr001")] == ["GR001"]
    assert len(lst(login="leader.gr001", kind="community")) == 0


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"kind": "planet"}, "kind"),
        ({"page_size": 5000}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "abc"}, "page_token"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_list_org_units_validation(server, kw, field):
    _, code, details = server.call(
        "OrgUnitService/ListOrgUnits", org_units_pb2.ListOrgUnitsRequest(**kw), org_units_pb2.ListOrgUnitsResponse, login="admin"
    )
    assert code == Code.INVALID_ARGUMENT
    assert details.startswith(field + ":"), details


def test_list_org_units_unknown_parent(server):
    _, code, details = server.call(
        "OrgUnitService/ListOrgUnits",
        org_units_pb2.ListOrgUnitsRequest(parent_code="CM02"),
        org_units_pb2.ListOrgUnitsResponse,
        login="staff.cm01",
    )
    assert code == Code.NOT_FOUND and details == 'org unit "CM02" not found'


def test_org_unit_tree(server):
    t = server.call_ok(
        "OrgUnitService/GetOrgUnitTree", org_units_pb2.GetOrgUnitTreeRequest(code="DC"), org_units_pb2.GetOrgUnitTreeResponse, login="admin"
    )
    assert not t.truncated
    assert len(t.nodes) == 1 + 6 + 28  # default depth 2: district, streets, communities
    root = t.nodes[0]
    assert root.depth == 0 and root.org_unit.code == "DC"
    assert (root.grids, root.compounds, root.three_no_compounds) == (208, 538, 373)
    # depth-first: every node comes after its parent, one level deeper
    seen = {}
    for n in t.nodes:
        seen[n.org_unit.id] = n
        if n.depth:
            assert seen[n.org_unit.parent_id].depth == n.depth - 1
    comms = [n for n in t.nodes if n.depth == 2]
    assert sum(n.grids for n in comms) == 208 and sum(n.three_no_compounds for n in comms) == 373
    full = server.call_ok(
        "OrgUnitService/GetOrgUnitTree", org_units_pb2.GetOrgUnitTreeRequest(max_depth=4), org_units_pb2.GetOrgUnitTreeResponse, login="logi.st01"
    )
    assert full.nodes[0].org_unit.code == "ST01"
    assert {n.org_unit.kind for n in full.nodes} == {"street", "community", "grid"}
    _, code, details = server.call(
        "OrgUnitService/GetOrgUnitTree", org_units_pb2.GetOrgUnitTreeRequest(max_depth=9), org_units_pb2.GetOrgUnitTreeResponse, login="admin"
    )
    assert code == Code.INVALID_ARGUMENT and details.startswith("max_depth:")


# ---------------------------------------------------------------- compounds


def test_compounds(server, db):
    cp = server.call_ok(
        "CompoundService/GetCompound", compounds_pb2.GetCompoundRequest(code="CP001"), compounds_pb2.Compound, login="leader.gr001"
    )
    assert cp.org_unit_code == "GR001"
    assert cp.three_no == (cp.no_property_mgmt and cp.no_competent_dept and cp.no_civil_defence)
    req = compounds_pb2.ListCompoundsRequest(three_no_only=True, page_size=100)
    three_no, pages = walk(server, "CompoundService/ListCompounds", req, compounds_pb2.ListCompoundsResponse, "compounds")
    assert len(three_no) == 373 and pages == 4 and all(c.three_no for c in three_no)
    req = compounds_pb2.ListCompoundsRequest(org_unit_code="CM01", page_size=1000)
    cm01 = server.call_ok("CompoundService/ListCompounds", req, compounds_pb2.ListCompoundsResponse, login="staff.cm01")
    assert len(cm01.compounds) == one(
        db,
        """SELECT count(*) FROM compounds cp JOIN org_units g ON g.id = cp.org_unit_id
           WHERE g.path <@ (SELECT path FROM org_units WHERE code = 'CM01')""",
    )
    assert not cm01.next_page_token
    # out of scope: same answer as a missing compound
    other = one(db, "SELECT cp.id FROM compounds cp JOIN org_units g ON g.id = cp.org_unit_id WHERE g.code = 'GR208' LIMIT 1")
    _, code, details = server.call(
        "CompoundService/GetCompound", compounds_pb2.GetCompoundRequest(id=other), compounds_pb2.Compound, login="leader.gr001"
    )
    assert code == Code.NOT_FOUND and details == "compound %d not found" % other


# ---------------------------------------------------------------- sites


def new_site(**kw):
    code = uid("TS")
    fields = dict(
        code=code,
        name="Test point " + code,
        kind="reserve_point",
        org_unit_code="CM01",
        address="1 Binhe Road",
        lat=31.2,
        lon=107.5,
        capacity_m3=40,
        contact_name="Wang Wei",
        contact_phone="13800000000",
        opening_hours="08:00-20:00",
    )
    fields.update(kw)
    return sites_pb2.CreateSiteRequest(**fields)


def test_site_create_get_update_deactivate(server, db):
    req = new_site()
    s = server.call_ok("SiteService/CreateSite", req, sites_pb2.Site, login="logi.st01")
    assert s.id > 0 and s.code == req.code and s.org_unit_code == "CM01" and s.active
    assert (s.lat, s.lon, s.capacity_m3) == (31.2, 107.5, 40) and s.created_at.endswith("Z")
    assert audit_rows(db, "site:%d" % s.id)[0][:2] == ("logi.st01", "/gridstock.v1.SiteService/CreateSite")

    got = server.call_ok("SiteService/GetSite", sites_pb2.GetSiteRequest(code=req.code), sites_pb2.Site, login="staff.cm01")
    assert got == s

    # masked update: only the named fields change, an empty value is allowed
    upd = sites_pb2.UpdateSiteRequest(id=s.id, name="Renamed", contact_phone="", update_mask=["name", "contact_phone"])
    u = server.call_ok("SiteService/UpdateSite", upd, sites_pb2.Site, login="logi.st01")
    assert (u.name, u.contact_phone, u.address, u.capacity_m3) == ("Renamed", "", s.address, 40)
    # unmasked update: every non-empty field changes
    upd = sites_pb2.UpdateSiteRequest(id=s.id, capacity_m3=55, lat=31.25, lon=107.45, org_unit_code="CM02")
    u = server.call_ok("SiteService/UpdateSite", upd, sites_pb2.Site, login="logi.st01")
    assert (u.capacity_m3, u.lat, u.lon, u.org_unit_code, u.name) == (55, 31.25, 107.45, "CM02", "Renamed")
    assert "capacity_m3" in audit_rows(db, "site:%d" % s.id)[-1][2]

    _, code, details = server.call("SiteService/UpdateSite", sites_pb2.UpdateSiteRequest(id=s.id), sites_pb2.Site, login="logi.st01")
    assert code == Code.INVALID_ARGUMENT and details.startswith("update_mask:")
    _, code, details = server.call(
        "SiteService/UpdateSite", sites_pb2.UpdateSiteRequest(id=s.id, update_mask=["colour"]), sites_pb2.Site, login="logi.st01"
    )
    assert code == Code.INVALID_ARGUMENT and "colour" in details

    d = server.call_ok("SiteService/DeactivateSite", sites_pb2.DeactivateSiteRequest(id=s.id), sites_pb2.Site, login="logi.st01")
    assert not d.active
    assert audit_rows(db, "site:%d" % s.id)[-1][1] == "/gridstock.v1.SiteService/DeactivateSite"
    listed = server.call_ok(
        "SiteService/ListSites", sites_pb2.ListSitesRequest(name="renamed", page_size=1000), sites_pb2.ListSitesResponse, login="admin"
    )
    assert s.id not in [x.id for x in listed.sites]
    listed = server.call_ok(
        "SiteService/ListSites",
        sites_pb2.ListSitesRequest(name="renamed", include_inactive=True, page_size=1000),
        sites_pb2.ListSitesResponse,
        login="admin",
    )
    assert s.id in [x.id for x in listed.sites]


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"code": "lower-case"}, "code"),
        ({"code": ""}, "code"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"kind": "warehouse"}, "kind"),
        ({"lat": 91.0}, "lat"),
        ({"lon": -180.5}, "lon"),
        ({"capacity_m3": -1}, "capacity_m3"),
        ({"contact_phone": "1" * 33}, "contact_phone"),
        ({"org_unit_code": ""}, "org_unit_id"),
    ],
)
def test_site_validation_names_the_field(server, db, kw, field):
    req = new_site(**kw)
    before = one(db, "SELECT count(*) FROM sites")
    _, code, details = server.call("SiteService/CreateSite", req, sites_pb2.Site, login="admin")
    assert code == Code.INVALID_ARGUMENT, details
    assert details.startswith(field + ":"), details
    assert one(db, "SELECT count(*) FROM sites") == before


def test_site_duplicate_code(server, db):
    _, code, details = server.call("SiteService/CreateSite", new_site(code="RP01"), sites_pb2.Site, login="admin")
    assert code == Code.ALREADY_EXISTS, details
    assert one(db, "SELECT count(*) FROM sites WHERE code = 'RP01'") == 1


def test_site_write_needs_role_and_scope(server, db):
    rp01 = one(db, "SELECT id FROM sites WHERE code = 'RP01'")
    before = db.execute("SELECT name, updated_at FROM sites WHERE id = %s", (rp01,)).fetchone()
    audits = one(db, "SELECT count(*) FROM audit_log")
    upd = sites_pb2.UpdateSiteRequest(id=rp01, name="Hijacked", update_mask=["name"])
    for login in ("staff.cm01", "auditor", "point.cm01", "fin.officer"):
        _, code, details = server.call("SiteService/UpdateSite", upd, sites_pb2.Site, login=login)
        assert code == Code.PERMISSION_DENIED, (login, details)
    # another street's officer: the site does not exist for them
    _, code, details = server.call("SiteService/UpdateSite", upd, sites_pb2.Site, login="logi.st02")
    assert code == Code.NOT_FOUND and details == "site %d not found" % rp01
    _, code, details = server.call("SiteService/DeactivateSite", sites_pb2.DeactivateSiteRequest(id=rp01), sites_pb2.Site, login="logi.st02")
    assert code == Code.NOT_FOUND and details == "site %d not found" % rp01
    # nor may they move a site of their own into another street
    _, code, details = server.call("SiteService/CreateSite", new_site(org_unit_code="CM01"), sites_pb2.Site, login="logi.st02")
    assert code == Code.NOT_FOUND and details == 'org unit "CM01" not found'
    assert db.execute("SELECT name, updated_at FROM sites WHERE id = %s", (rp01,)).fetchone() == before
    assert one(db, "SELECT count(*) FROM audit_log") == audits


def test_list_sites_filters_and_scope(server, db):
    req = sites_pb2.ListSitesRequest(kind="reserve_point", page_size=10)
    rps, pages = walk(server, "SiteService/ListSites", req, sites_pb2.ListSitesResponse, "sites")
    assert pages == 3 and {s.code for s in rps} >= {"RP%02d" % n for n in range(1, 29)}
    assert all(s.kind == "reserve_point" for s in rps)
    st01 = server.call_ok(
        "SiteService/ListSites", sites_pb2.ListSitesRequest(page_size=1000), sites_pb2.ListSitesResponse, login="logi.st01"
    ).sites
    assert st01 and len(st01) == one(
        db,
        """SELECT count(*) FROM sites s JOIN org_units o ON o.id = s.org_unit_id
           WHERE s.active AND o.path <@ (SELECT path FROM org_units WHERE code = 'ST01')""",
    )
    cm01 = server.call_ok(
        "SiteService/ListSites", sites_pb2.ListSitesRequest(org_unit_code="CM01", kind="reserve_point"), sites_pb2.ListSitesResponse, login="logi.st01"
    ).sites
    assert [s.code for s in cm01 if s.code.startswith("RP")] == ["RP01"]
    _, code, details = server.call(
        "SiteService/ListSites", sites_pb2.ListSitesRequest(kind="shop"), sites_pb2.ListSitesResponse, login="admin"
    )
    assert code == Code.INVALID_ARGUMENT and details.startswith("kind:")


def nearest(server, login="admin", **kw):
    return server.call("SiteService/NearestSites", sites_pb2.NearestSitesRequest(**kw), sites_pb2.NearestSitesResponse, login=login)


def test_nearest_sites_ordering(server, db):
    lat, lon = db.execute("SELECT lat, lon FROM sites WHERE code = 'RP05'").fetchone()
    r, code, details = nearest(server, lat=lat, lon=lon, limit=20)
    assert code == Code.OK, details
    assert len(r.results) == 20
    assert r.results[0].site.code == "RP05" and r.results[0].distance_m < 1
    dists = [x.distance_m for x in r.results]
    assert dists == sorted(dists)
    expected = db.execute(
        """SELECT code, earth_distance(ll_to_earth(%s, %s), ll_to_earth(lat, lon)) FROM sites
           WHERE active ORDER BY 2, id LIMIT 20""",
        (lat, lon),
    ).fetchall()
    assert [x.site.code for x in r.results] == [e[0] for e in expected]
    for x, (_, d) in zip(r.results, expected):
        assert abs(x.distance_m - d) < 0.01
    # kind filter and radius
    r, code, _ = nearest(server, lat=lat, lon=lon, kind="supplier_market", limit=100, max_km=2)
    assert code == Code.OK
    assert all(x.site.kind == "supplier_market" and x.distance_m <= 2000 for x in r.results)
    assert len(r.results) == one(
        db,
        """SELECT count(*) FROM sites WHERE active AND kind = 'supplier_market'
           AND earth_distance(ll_to_earth(%s, %s), ll_to_earth(lat, lon)) <= 2000""",
        lat,
        lon,
    )
    # default limit 10; scope applies
    r, code, _ = nearest(server, lat=lat, lon=lon)
    assert code == Code.OK and len(r.results) == 10
    r, code, _ = nearest(server, login="staff.cm01", lat=lat, lon=lon, limit=100)
    assert code == Code.OK and r.results and all(x.site.org_unit_code == "CM01" for x in r.results)


@pytest.mark.parametrize(
    "kw, field",
    [({"lat": 95}, "lat"), ({"lon": 181}, "lon"), ({"limit": 101}, "limit"), ({"max_km": -1}, "max_km"), ({"kind": "x"}, "kind")],
)
def test_nearest_sites_validation(server, kw, field):
    _, code, details = nearest(server, **kw)
    assert code == Code.INVALID_ARGUMENT and details.startswith(field + ":"), details


# ---------------------------------------------------------------- catalog


def test_items_get_and_list(server):
    w = server.call_ok("CatalogService/GetItem", catalog_pb2.GetItemRequest(code="WATER-5L"), catalog_pb2.Item, login="leader.gr001")
    assert w.category == "water" and w.active
    again = server.call_ok("CatalogService/GetItem", catalog_pb2.GetItemRequest(id=w.id), catalog_pb2.Item, login="auditor")
    assert again == w
    _, code, details = server.call("CatalogService/GetItem", catalog_pb2.GetItemRequest(code="NOPE"), catalog_pb2.Item, login="admin")
    assert code == Code.NOT_FOUND and details == 'item "NOPE" not found'
    rice = server.call_ok(
        "CatalogService/ListItems", catalog_pb2.ListItemsRequest(query="rice"), catalog_pb2.ListItemsResponse, login="admin"
    ).items
    assert "RICE-10KG" in [i.code for i in rice]
    req = catalog_pb2.ListItemsRequest(page_size=7)
    items, pages = walk(server, "CatalogService/ListItems", req, catalog_pb2.ListItemsResponse, "items")
    assert len(items) >= 60 and pages == (len(items) + 6) // 7
    food = server.call_ok(
        "CatalogService/ListItems", catalog_pb2.ListItemsRequest(category="food", page_size=1000), catalog_pb2.ListItemsResponse, login="admin"
    ).items
    assert food and all(i.category == "food" for i in food)


def test_item_create_update(server, db):
    code = uid("IT-")
    req = catalog_pb2.CreateItemRequest(code=code, name="Test biscuits", category="food", unit="box", shelf_life_days=365)
    # the catalog is the district's: a street's logistics officer may not write it
    _, c, details = server.call("CatalogService/CreateItem", req, catalog_pb2.Item, login="logi.st03")
    assert c == Code.PERMISSION_DENIED and "district" in details, details
    assert one(db, "SELECT count(*) FROM items WHERE code = %s", code) == 0
    it = server.call_ok("CatalogService/CreateItem", req, catalog_pb2.Item, login="logi.district")
    assert (it.code, it.shelf_life_days, it.active) == (code, 365, True)
    assert audit_rows(db, "item:%d" % it.id)[0][0] == "logi.district"
    _, c, _ = server.call("CatalogService/UpdateItem", catalog_pb2.UpdateItemRequest(
        id=it.id, name="Renamed", update_mask=["name"]), catalog_pb2.Item, login="logi.st03")
    assert c == Code.PERMISSION_DENIED
    assert one(db, "SELECT name FROM items WHERE id = %s", it.id) == "Test biscuits"
    _, code2, details = server.call("CatalogService/CreateItem", req, catalog_pb2.Item, login="admin")
    assert code2 == Code.ALREADY_EXISTS, details
    upd = catalog_pb2.UpdateItemRequest(id=it.id, shelf_life_days=0, active=False, update_mask=["shelf_life_days", "active"])
    u = server.call_ok("CatalogService/UpdateItem", upd, catalog_pb2.Item, login="admin")
    assert (u.shelf_life_days, u.active, u.name) == (0, False, "Test biscuits")
    assert one(db, "SELECT shelf_life_days FROM items WHERE id = %s", it.id) is None
    # inactive items are listed only on request
    lst = lambda **kw: server.call_ok(  # noqa: E731
        "CatalogService/ListItems", catalog_pb2.ListItemsRequest(query=code, **kw), catalog_pb2.ListItemsResponse, login="admin"
    ).items
    assert len(lst()) == 0 and [i.id for i in lst(include_inactive=True)] == [it.id]
    # community staff may read the catalog, not write it
    _, c, _ = server.call("CatalogService/UpdateItem", catalog_pb2.UpdateItemRequest(id=it.id, name="X"), catalog_pb2.Item, login="staff.cm01")
    assert c == Code.PERMISSION_DENIED
    _, c, _ = server.call("CatalogService/UpdateItem", catalog_pb2.UpdateItemRequest(id=10**12, name="X"), catalog_pb2.Item, login="admin")
    assert c == Code.NOT_FOUND


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"code": "bad code"}, "code"),
        ({"name": ""}, "name"),
        ({"category": "toys"}, "category"),
        ({"unit": ""}, "unit"),
        ({"unit": "u" * 33}, "unit"),
        ({"shelf_life_days": -5}, "shelf_life_days"),
    ],
)
def test_item_validation(server, db, kw, field):
    fields = dict(code=uid("IT-"), name="Thing", category="other", unit="piece")
    fields.update(kw)
    before = one(db, "SELECT count(*) FROM items")
    _, code, details = server.call("CatalogService/CreateItem", catalog_pb2.CreateItemRequest(**fields), catalog_pb2.Item, login="admin")
    assert code == Code.INVALID_ARGUMENT and details.startswith(field + ":"), details
    assert one(db, "SELECT count(*) FROM items") == before


def test_site_item_levels(server, db):
    lv = server.call_ok(
        "CatalogService/SetSiteItemLevel",
        catalog_pb2.SetSiteItemLevelRequest(site_code="RP01", item_code="MASK-N95", reorder_point=30, par_level=120),
        catalog_pb2.SiteItemLevel,
        login="logi.st01",
    )
    assert (lv.site_code, lv.item_code, lv.reorder_point, lv.par_level) == ("RP01", "MASK-N95", 30, 120)
    assert audit_rows(db, "site:%d/item:%d" % (lv.site_id, lv.item_id))
    assert db.execute(
        "SELECT reorder_point, par_level FROM site_items WHERE site_id = %s AND item_id = %s", (lv.site_id, lv.item_id)
    ).fetchone() == (30, 120)

    req = catalog_pb2.ListSiteItemLevelsRequest(site_code="RP01", page_size=25)
    levels, pages = walk(server, "CatalogService/ListSiteItemLevels", req, catalog_pb2.ListSiteItemLevelsResponse, "levels", login="staff.cm01")
    assert len(levels) == one(db, "SELECT count(*) FROM site_items WHERE site_id = %s", lv.site_id) and pages >= 3
    assert [x.item_id for x in levels] == sorted(x.item_id for x in levels)

    bad = catalog_pb2.SetSiteItemLevelRequest(site_code="RP01", item_code="MASK-N95", reorder_point=50, par_level=10)
    _, code, details = server.call("CatalogService/SetSiteItemLevel", bad, catalog_pb2.SiteItemLevel, login="logi.st01")
    assert code == Code.INVALID_ARGUMENT and details.startswith("par_level:")
    # a site in another street: NOT_FOUND, nothing changed
    other = catalog_pb2.SetSiteItemLevelRequest(site_code="RP01", item_code="MASK-N95", reorder_point=1, par_level=2)
    _, code, details = server.call("CatalogService/SetSiteItemLevel", other, catalog_pb2.SiteItemLevel, login="logi.st02")
    assert code == Code.NOT_FOUND and details == 'site "RP01" not found'
    _, code, details = server.call(
        "CatalogService/ListSiteItemLevels", catalog_pb2.ListSiteItemLevelsRequest(site_code="RP01"), catalog_pb2.ListSiteItemLevelsResponse, login="staff.cm02"
    )
    assert code == Code.NOT_FOUND
    assert db.execute(
        "SELECT reorder_point, par_level FROM site_items WHERE site_id = %s AND item_id = %s", (lv.site_id, lv.item_id)
    ).fetchone() == (30, 120)


# ---------------------------------------------------------------- users


def test_whoami(server):
    w = server.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="staff.cm01")
    assert (w.user.login, w.role, w.scope_code, w.scope_kind) == ("staff.cm01", "community_staff", "CM01", "community")
    assert "directory.read" in w.permissions and "user.admin" not in w.permissions
    a = server.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    assert "user.admin" in a.permissions and a.scope_kind == "district"


def test_user_admin_is_admin_only(server):
    for login in ("logi.district", "auditor", "point.cm01"):
        _, code, _ = server.call("UserService/ListUsers", users_pb2.ListUsersRequest(), users_pb2.ListUsersResponse, login=login)
        assert code == Code.PERMISSION_DENIED, login


def test_list_users_walks_community_staff(server):
    req = users_pb2.ListUsersRequest(role="community_staff", page_size=100)
    users, pages = walk(server, "UserService/ListUsers", req, users_pb2.ListUsersResponse, "users")
    assert len(users) == 28 + 208 and pages == 3
    leaders = server.call_ok(
        "UserService/ListUsers", users_pb2.ListUsersRequest(query="leader.gr00", page_size=1000), users_pb2.ListUsersResponse, login="admin"
    ).users
    assert sorted(u.login for u in leaders) == ["leader.gr%03d" % n for n in range(1, 10)]
    cm01 = server.call_ok(
        "UserService/ListUsers", users_pb2.ListUsersRequest(scope_code="CM01", page_size=1000), users_pb2.ListUsersResponse, login="admin"
    ).users
    assert {"staff.cm01", "point.cm01", "leader.gr001"} <= {u.login for u in cm01}
    assert all(u.scope_code == "CM01" or u.scope_code.startswith("GR") for u in cm01)


def test_user_lifecycle(server, db):
    login = "t." + uuid.uuid4().hex[:8]
    req = users_pb2.CreateUserRequest(login=login, display_name="Test Officer", role="logistics_officer", scope_code="ST02", phone="139")
    u = server.call_ok("UserService/CreateUser", req, users_pb2.User, login="admin")
    assert (u.login, u.role, u.scope_code, u.active, u.tokens_valid_after) == (login, "logistics_officer", "ST02", True, "")
    assert audit_rows(db, "user:%d" % u.id)[0][0] == "admin"
    _, code, _ = server.call("UserService/CreateUser", req, users_pb2.User, login="admin")
    assert code == Code.ALREADY_EXISTS
    got = server.call_ok("UserService/GetUser", users_pb2.GetUserRequest(login=login), users_pb2.User, login="admin")
    assert got == u

    tok = server.token(login, fresh=True)
    w = server.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok)
    assert w.scope_code == "ST02" and "site.write" in w.permissions

    upd = users_pb2.UpdateUserRequest(id=u.id, role="community_staff", scope_code="CM07", phone="", update_mask=["role", "scope", "phone"])
    u2 = server.call_ok("UserService/UpdateUser", upd, users_pb2.User, login="admin")
    assert (u2.role, u2.scope_code, u2.phone, u2.display_name) == ("community_staff", "CM07", "", "Test Officer")

    # revocation refuses tokens issued before it (to the second), not later ones
    time.sleep(1.1)
    r = server.call_ok("UserService/RevokeUserTokens", users_pb2.RevokeUserTokensRequest(id=u.id), users_pb2.User, login="admin")
    assert r.tokens_valid_after.endswith("Z")
    _, code, _ = server.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok)
    assert code == Code.UNAUTHENTICATED
    time.sleep(1.1)
    tok2 = server.token(login, fresh=True)
    server.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok2)

    d = server.call_ok("UserService/DeactivateUser", users_pb2.DeactivateUserRequest(id=u.id), users_pb2.User, login="admin")
    assert not d.active
    _, code, _ = server.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok2)
    assert code == Code.UNAUTHENTICATED
    methods = [row[1].rsplit("/", 1)[1] for row in audit_rows(db, "user:%d" % u.id)]
    assert methods == ["CreateUser", "UpdateUser", "RevokeUserTokens", "DeactivateUser"]
    assert one(db, "SELECT active FROM users WHERE id = %s", u.id) is False


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"login": "Upper"}, "login"),
        ({"login": ""}, "login"),
        ({"display_name": ""}, "display_name"),
        ({"role": "king"}, "role"),
        ({"scope_code": ""}, "scope_id"),
        ({"phone": "9" * 40}, "phone"),
    ],
)
def test_user_validation(server, db, kw, field):
    fields = dict(login="t." + uuid.uuid4().hex[:8], display_name="X", role="auditor", scope_code="DC")
    fields.update(kw)
    before = one(db, "SELECT count(*) FROM users")
    _, code, details = server.call("UserService/CreateUser", users_pb2.CreateUserRequest(**fields), users_pb2.User, login="admin")
    assert code == Code.INVALID_ARGUMENT and details.startswith(field + ":"), details
    assert one(db, "SELECT count(*) FROM users") == before


def test_admin_cannot_lock_themselves_out(server, db):
    me = one(db, "SELECT id FROM users WHERE login = 'admin'")
    _, code, details = server.call("UserService/DeactivateUser", users_pb2.DeactivateUserRequest(id=me), users_pb2.User, login="admin")
    assert code == Code.FAILED_PRECONDITION, details
    upd = users_pb2.UpdateUserRequest(id=me, role="auditor")
    _, code, details = server.call("UserService/UpdateUser", upd, users_pb2.User, login="admin")
    assert code == Code.FAILED_PRECONDITION and details.startswith("role:"), details
    assert db.execute("SELECT active, role FROM users WHERE id = %s", (me,)).fetchone() == (True, "admin")


def test_scoped_admin_sees_only_their_subtree(server, db):
    login = "t.adm" + uuid.uuid4().hex[:6]
    server.call_ok(
        "UserService/CreateUser",
        users_pb2.CreateUserRequest(login=login, display_name="Street admin", role="admin", scope_code="ST02"),
        users_pb2.User,
        login="admin",
    )
    staff1 = one(db, "SELECT id FROM users WHERE login = 'staff.cm01'")
    missing = one(db, "SELECT max(id) + 1000 FROM users")
    for uid_ in (staff1, missing):
        _, code, details = server.call("UserService/GetUser", users_pb2.GetUserRequest(id=uid_), users_pb2.User, login=login)
        assert code == Code.NOT_FOUND and details == "user %d not found" % uid_
    _, code, _ = server.call("UserService/RevokeUserTokens", users_pb2.RevokeUserTokensRequest(id=staff1), users_pb2.User, login=login)
    assert code == Code.NOT_FOUND
    assert one(db, "SELECT tokens_valid_after::text FROM users WHERE id = %s", staff1) == "-infinity"
    _, code, details = server.call(
        "UserService/CreateUser",
        users_pb2.CreateUserRequest(login="t.x" + uuid.uuid4().hex[:6], display_name="X", role="auditor", scope_code="DC"),
        users_pb2.User,
        login=login,
    )
    assert code == Code.NOT_FOUND and details == 'org unit "DC" not found'
    users = server.call_ok(
        "UserService/ListUsers", users_pb2.ListUsersRequest(page_size=1000), users_pb2.ListUsersResponse, login=login
    ).users
    assert users and "staff.cm07" in {u.login for u in users} and "staff.cm01" not in {u.login for u in users}
