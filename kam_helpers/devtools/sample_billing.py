"""The sample book's invoices and invoice lines, with the planted billing errors, duplicate lines and unbilled
shipments.
"""

from __future__ import annotations

import numpy as np

from kam_helpers.devtools.sample_catalogue import _ACCESSORIALS, _PROFILES, DAY, _group_rank
from kam_helpers.devtools.sample_shipments import per_account


def make_invoices(accts, cal, sh, rng) -> dict[str, np.ndarray]:
    """Bill delivered shipments in weekly or monthly runs, planting billing errors, duplicate lines and
    unbilled shipments; sets ``sh['revenue']`` to the billed amount. → invoice and line arrays."""
    A, last = len(accts), cal.last
    days = np.arange(cal.first, last + 1)
    weekly_run = days + (6 - (days + 3) % 7) + 2  # the Tuesday after the week's Sunday
    month = (days + 3).astype("datetime64[D]").astype("datetime64[M]")  # the last 3 days roll into next month
    monthly_run = ((month + 1).astype("datetime64[D]") - 1).astype(np.int64)
    weekly = np.array([a["weekly"] for a in accts])
    offset = np.array([a["run_offset"] for a in accts])
    run = np.where(weekly[:, None], weekly_run[None, :] + offset[:, None], monthly_run[None, :])
    cutoff = np.where(run <= last, days[None, :], -1).max(axis=1)

    acc = sh["acc"]
    delivered = sh["status"] == 2
    dday = np.where(delivered, sh["deliv"] // DAY, cal.first)
    runday = run[acc, dday - cal.first]
    billable = delivered & (runday <= last)
    unbilled = billable & (rng.random(len(acc)) < per_account(accts, "unbilled")[acc])
    bidx = np.flatnonzero(billable & ~unbilled)
    b_acc = acc[bidx]
    uniq, inv = np.unique(runday[bidx] * A + b_acc, return_inverse=True)  # numbered by issue day, then account
    inv_acc, issued = uniq % A, uniq // A
    ni = len(uniq)
    size = np.bincount(inv, minlength=ni)

    # billing errors come in incidents: a share of one invoice's shipments, all of one kind; invoices are
    # drawn in random order until the account's quota (its error rate × billed shipments) is used up
    kind = rng.choice(4, ni, p=[0.4, 0.2, 0.25, 0.15])
    k = np.maximum(1, np.round(size * rng.uniform(0.3, 0.7, ni))).astype(np.int64)
    k = np.where(kind == 3, np.minimum(k, 2), k)
    quota = np.round(per_account(accts, "err") * np.bincount(b_acc, minlength=A))
    order = np.lexsort((rng.random(ni), inv_acc))
    used = np.cumsum(k[order]) - k[order]
    first = np.r_[0, np.flatnonzero(np.diff(inv_acc[order])) + 1]
    used -= np.repeat(used[first], np.diff(np.r_[first, ni]))
    k[order] = np.clip(quota[inv_acc[order]] - used, 0, k[order])
    incident = k > 0
    factor = np.where(kind == 0, rng.uniform(1.04, 1.12, ni), rng.uniform(0.80, 0.95, ni))
    rank = _group_rank(inv, rng.random(len(bidx)))
    ek = kind[inv]
    lh, fu, pct, exp_ = sh["linehaul"][bidx], sh["fuel"][bidx], sh["fuel_pct"][bidx], sh["expected"][bidx]
    err = incident[inv] & (rank < k[inv]) & ~((ek == 2) & (fu < 1.0))
    del rank
    rerated = err & (ek <= 1)
    bl = np.where(rerated, np.round(lh * factor[inv], 2), lh)
    bf = np.where(rerated, np.round(bl * pct / 100, 2), np.where(err & (ek == 2), 0.0, fu))
    fx = np.array([a["fx"] for a in accts])
    ba = np.where(err & (ek == 3), _ACCESSORIALS[rng.integers(0, len(_ACCESSORIALS), len(bidx))] * fx[b_acc], 0.0)
    err &= np.abs(np.round(bl + bf + ba, 2) - exp_) >= 0.5  # planted errors are material, not rounding
    bl, bf, ba = np.where(err, bl, lh), np.where(err, bf, fu), np.where(err, ba, 0.0)
    billed = np.round(bl + bf + ba, 2)
    delta = np.round(billed - exp_, 2)
    sh["revenue"][bidx] = billed
    dup = ~err & (rng.random(len(bidx)) < per_account(accts, "dup")[b_acc])

    # lines: linehaul, fuel (if any), accessorial (planted only), then duplicated lines at the invoice's end
    has_f, has_a = bf > 0, ba > 0
    nl = 1 + has_f + has_a
    ship = np.repeat(np.arange(len(bidx)), nl)
    pos = np.arange(len(ship)) - np.repeat(np.cumsum(nl) - nl, nl)
    ctype = np.where(pos == 0, 0, np.where((pos == 1) & has_f[ship], 1, 2))
    del pos
    d = np.flatnonzero(dup)
    ship = np.concatenate([ship, d])
    ctype = np.concatenate([ctype, np.zeros(len(d), np.int64)])
    is_dup = np.r_[np.zeros(len(ship) - len(d), np.int8), np.ones(len(d), np.int8)]
    order = np.lexsort((ctype, ship, is_dup, inv[ship]))
    ship, ctype, is_dup = ship[order], ctype[order], is_dup[order]
    del order
    l_inv = inv[ship]
    amount = np.select([ctype == 0, ctype == 1], [bl[ship], bf[ship]], ba[ship])
    starts = np.r_[0, np.flatnonzero(l_inv[1:] != l_inv[:-1]) + 1]
    line_no = np.arange(len(ship)) - np.repeat(starts, np.diff(np.r_[starts, len(ship)])) + 1
    inv_amount = np.round(np.bincount(l_inv, weights=amount, minlength=ni), 2)

    # status: clients dispute over-charges, credits fix them; the rest is paid after the terms (or still open)
    flagged = (np.bincount(inv, weights=err & (delta > 0), minlength=ni) > 0) | (
        np.bincount(inv, weights=dup, minlength=ni) > 0
    )
    short_billed = np.bincount(inv, weights=err & (delta < 0), minlength=ni) > 0
    false_dispute = ~flagged & ~short_billed & (rng.random(ni) < 0.002)
    r = rng.random(ni)
    disputed = (flagged & (r < 0.45)) | false_dispute
    credited = (flagged & (r >= 0.45) & (r < 0.8)) | (~flagged & short_billed & (r < 0.4))
    mu, sd = np.array([_PROFILES[a["profile"]]["pay"] for a in accts]).T
    terms = np.array([a["terms"] for a in accts])[inv_acc]
    days_to_pay = np.maximum(3, np.round(terms + rng.normal(mu[inv_acc], sd[inv_acc]))).astype(np.int64)
    paid = issued + days_to_pay + 15 * credited
    paid_null = disputed | (paid > last)
    inv_status = np.select([disputed, credited, paid_null], [2, 3, 0], 1)  # INVOICE_STATUSES order

    return dict(
        bidx=bidx,
        inv=inv,
        err=err,
        kind=ek,
        delta=delta,
        dup=dup,
        unbilled=np.flatnonzero(unbilled),
        cutoff=cutoff,
        acc=inv_acc,
        issued=issued,
        due=issued + terms,
        paid=paid,
        paid_null=paid_null,
        amount=inv_amount,
        status=inv_status,
        raised=disputed | (credited & flagged),
        false_dispute=false_dispute,
        l_inv=l_inv,
        l_ship=bidx[ship],
        l_type=ctype,
        l_amount=amount,
        l_no=line_no,
        l_dup=is_dup.astype(bool),
    )
