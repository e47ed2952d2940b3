"""Medical settlement (就医结算): split a hospital bill between the fund, the personal account and cash.

Pure arithmetic in integer fen, each amount and the total at most MAX_FEN (10^15 fen), so every product stays
exact in Decimal's 28 digits and fits the database's 64-bit columns. Rates come from the TOML text as Decimal (never float), products are rounded
half up, and every cap is respected, so the parts always add up to the bill's total:

    total          = all items
    out_of_catalog = category C
    self_pay_first = category B x self_pay_first_rate
    eligible       = total - out_of_catalog - self_pay_first
    deductible     = min(eligible, deductible not yet used this year)
    fund           = min((eligible - deductible) x ratio[level], fund cap not yet used this year)
    account        = min(balance, total - fund - out_of_catalog)   (or total - fund when the policy lets
                                                                    the account cover out-of-catalog items)
    cash           = total - fund - account
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

from holder_db.kinds import MAX_FEN

CATEGORIES = ("A", "B", "C")
SPLIT_KEYS = ("total", "out_of_catalog", "self_pay_first", "deductible", "fund", "account", "cash")


class PolicyError(ValueError):
    """The settlement policy is missing a field or has a value out of range."""


class BillError(ValueError):
    """The bill is malformed; the message names the item that is wrong."""


@dataclass(frozen=True)
class Policy:
    deductible: int
    fund_cap: int
    self_pay_first_rate: Decimal
    ratio: Mapping[str, Decimal]
    account_covers_out_of_catalog: bool = False


@dataclass(frozen=True)
class Item:
    code: str
    category: str
    amount: int


@dataclass(frozen=True)
class Bill:
    level: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Usage:
    """What the holder has already used this year and has in the personal account, in fen."""

    balance: int = 0
    deductible_used: int = 0
    fund_used: int = 0


@dataclass(frozen=True)
class Split:
    total: int
    out_of_catalog: int
    self_pay_first: int
    deductible: int
    fund: int
    account: int
    cash: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _fen(value: Any, what: str, error: type[ValueError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be a whole number of fen, got {_short(value)}")
    if value < 0:
        raise error(f"{what} must not be negative, got {_short(value)}")
    if value > MAX_FEN:
        raise error(f"{what} must be at most {MAX_FEN} fen (ten trillion yuan), got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else f"a {len(str(value))}-digit number"
    return text if len(text) <= 40 else text[:37] + "..."


def _rate(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise PolicyError(f"{what} must be a number between 0 and 1, got {value!r}")
    try:
        rate = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise PolicyError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise PolicyError(f"{what} must be a number between 0 and 1, got {value!r}")
    return rate


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build a policy from the parsed TOML (numbers parsed as Decimal or int)."""
    medical = data.get("medical")
    if not isinstance(medical, Mapping):
        raise PolicyError("policy has no [medical] table")
    for key in ("deductible", "fund_cap", "self_pay_first_rate", "ratio"):
        if key not in medical:
            raise PolicyError(f"policy [medical] has no {key!r}")
    ratio = medical["ratio"]
    if not isinstance(ratio, Mapping) or not ratio:
        raise PolicyError("policy [medical.ratio] must list a fund share per institution level")
    covers = medical.get("account_covers_out_of_catalog", False)
    if not isinstance(covers, bool):
        raise PolicyError("policy account_covers_out_of_catalog must be true or false")
    return Policy(
        deductible=_fen(medical["deductible"], "policy deductible", PolicyError),
        fund_cap=_fen(medical["fund_cap"], "policy fund_cap", PolicyError),
        self_pay_first_rate=_rate(medical["self_pay_first_rate"], "policy self_pay_first_rate"),
        ratio={str(level): _rate(r, f"policy ratio for level {level!r}") for level, r in ratio.items()},
        account_covers_out_of_catalog=covers,
    )


def parse_policy(text: str) -> Policy:
    """Parse the policy TOML text; rates become exact Decimals, not floats."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy is not valid TOML: {exc}") from None
    return policy_from_dict(data)


def load_policy(path: str | Path) -> Policy:
    return parse_policy(Path(path).read_text(encoding="utf-8"))


def parse_bill(data: Any, policy: Policy | None = None) -> Bill:
    """Check a bill's shape: a known level, items with code, category A/B/C and a non-negative amount in fen."""
    if not isinstance(data, Mapping):
        raise BillError("bill must be a JSON object with 'level' and 'items'")
    level = data.get("level")
    if not isinstance(level, (str, int)) or isinstance(level, bool):
        raise BillError(f"bill level must be a string such as \"3\", got {level!r}")
    level = str(level)
    if policy is not None and level not in policy.ratio:
        raise BillError(f"bill level {level!r} is unknown (the policy knows {', '.join(sorted(policy.ratio))})")
    items = data.get("items")
    if not isinstance(items, list):
        raise BillError("bill items must be a list")
    parsed = []
    for n, raw in enumerate(items, 1):
        if not isinstance(raw, Mapping):
            raise BillError(f"bill item {n} must be an object")
        code = raw.get("code", "")
        name = f"bill item {n} ({code!r})" if code else f"bill item {n}"
        if not isinstance(code, str):
            raise BillError(f"{name}: code must be a string")
        category = raw.get("category")
        if category not in CATEGORIES:
            raise BillError(f"{name}: unknown category {category!r} (expected A, B or C)")
        parsed.append(Item(code=code, category=category, amount=_fen(raw.get("amount"), f"{name} amount", BillError)))
    return Bill(level=level, items=tuple(parsed))


def load_bill(path: str | Path, policy: Policy | None = None) -> Bill:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BillError(f"bill is not valid JSON: {exc}") from None
    return parse_bill(data, policy)


def times(amount: int, rate: Decimal) -> int:
    """amount x rate in whole fen, rounded half up."""
    return int((Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split(policy: Policy, bill: Bill, usage: Usage = Usage()) -> Split:
    """Split a bill; the parts (fund + account + cash) add up to the total and none is negative."""
    if bill.level not in policy.ratio:
        raise BillError(f"bill level {bill.level!r} is unknown (the policy knows {', '.join(sorted(policy.ratio))})")
    for what, value in (("balance", usage.balance), ("deductible used", usage.deductible_used),
                        ("fund used", usage.fund_used)):
        _fen(value, what, BillError)
    total = sum(i.amount for i in bill.items)
    if total > MAX_FEN:
        raise BillError(f"bill total must be at most {MAX_FEN} fen (ten trillion yuan)")
    out_of_catalog = sum(i.amount for i in bill.items if i.category == "C")
    self_pay_first = times(sum(i.amount for i in bill.items if i.category == "B"), policy.self_pay_first_rate)
    eligible = total - out_of_catalog - self_pay_first
    deductible = min(eligible, max(0, policy.deductible - usage.deductible_used))
    fund = min(times(eligible - deductible, policy.ratio[bill.level]), max(0, policy.fund_cap - usage.fund_used))
    payable = total - fund if policy.account_covers_out_of_catalog else total - fund - out_of_catalog
    account = min(usage.balance, payable)
    return Split(total=total, out_of_catalog=out_of_catalog, self_pay_first=self_pay_first, deductible=deductible,
                 fund=fund, account=account, cash=total - fund - account)
