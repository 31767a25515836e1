"""Moving money by two people through FundMovementService (issue 14): prepare by a finance
officer, approve and post by a finance approver. Shared by the tests that need funded
accounts."""
import grpc

from gridstock.v1 import funds_pb2 as F

SVC = "FundMovementService/"
REQUESTS = {"PrepareDeposit": F.DepositRequest, "PrepareAllocation": F.AllocateRequest,
            "PrepareAllocationBatch": F.AllocateBatchRequest, "PrepareReversal": F.ReverseRequest}


def step(server, method, req, login, **kw):
    """One call of the service → (FundMovement or None, code, details)."""
    return server.call(SVC + method, req, F.FundMovement, login=login, **kw)


def move(server, method, preparer="fin.officer", approver="fin.approver", **fields):
    """Prepares (`method`, e.g. "PrepareDeposit", with the request's `fields`), approves
    and posts one movement; returns the posted FundMovement (with its postings)."""
    m, code, details = step(server, method, REQUESTS[method](**fields), preparer)
    assert code == grpc.StatusCode.OK, "%s: %s %s" % (method, code, details)
    for action in ("ApproveMovement", "PostMovement"):
        m, code, details = step(server, action, F.FundMovementRequest(id=m.id), approver)
        assert code == grpc.StatusCode.OK, "%s %d: %s %s" % (action, m.id if m else 0, code, details)
    assert m.state == "posted"
    return m
