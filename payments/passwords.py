"""Staff password policy: long enough, not common, not the account's own data, not guessable.

Checked when an account is created (`feegate users create`), in this order, and the first
rule broken is explained in Vietnamese (English after it):

1. at least `MIN_LENGTH` (10) characters, at most `MAX_LENGTH` (128);
2. not built from the account's own data: the e-mail address, its local part (`lan.nguyen`),
   the local part's words (`nguyen`) and the domain's own name (`sotuphap`), whatever the
   case, the accents or the separators (`Lan.Nguyen2024` is refused for lan.nguyen@…);
3. not a common password: the 30,000 most common passwords of zxcvbn's list (leaked-password
   corpora), plus Vietnamese favourites (`matkhau…`, `anhyeuem…`), compared without case,
   accents or separators, and also with a trailing run of digits and symbols removed
   (`Matkhau@123456`);
4. not guessable as zxcvbn estimates it (score at least 3 of 4: keyboard walks, sequences,
   repeats, dates, l33t spellings of dictionary words and of the account's data).

zxcvbn (PyPI, MIT, pure Python) is imported on first use, so only the CLI pays for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses and more
ZXCVBN_MAX_LENGTH = 72  # zxcvbn analyses the first 72 characters (its own default)

VIETNAMESE_COMMON = (
    "matkhau", "matkhaumoi", "matkhaucuatoi", "anhyeuem", "emyeuanh", "yeuem", "yeuanh",
    "anhyeuemnhieu", "emyeuanhnhieu", "iloveyou", "toiyeuvietnam", "vietnam", "vietnamvodich",
    "hanoi", "saigon", "hochiminh", "danang", "khanhhoa", "nhatrang", "admin", "quantri",
    "quantrivien", "ketoan", "taichinh", "dichvucong", "motcua", "sotuphap", "ubnd", "thanhtoan",
    "feegate", "nguyen", "tran", "pham", "hoang", "huynh", "phan", "dang", "nguyenvana",
    "abc123", "123456789a", "a123456789", "123456aa", "bongda", "doremon", "conmeo", "concho",
)
"""Words Vietnamese users favour in passwords (also given to zxcvbn as a dictionary)."""

# parts of a domain that say nothing about the account (gov.vn, com.vn, edu…)
_GENERIC_DOMAIN_LABELS = frozenset({
    "gov", "com", "net", "org", "edu", "vn", "info", "biz", "mail", "gmail", "yahoo", "outlook",
    "hotmail", "example",
})
_TRAILING_DIGITS_SYMBOLS = re.compile(r"[\W\d_]+$")
_WORDS = re.compile(r"[a-z0-9]+")


class WeakPassword(ValueError):
    """The password breaks the policy; `str(error)` is the message to show (Vietnamese first)."""


def fold(text: str) -> str:
    """Lower case, without accents (đ → d) or anything but letters and digits."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    return "".join(ch for ch in text if ch.isalnum() and not unicodedata.combining(ch))


def account_words(email: str, extra: Iterable[str] = ()) -> list[str]:
    """What a password must not be built from: the e-mail, its local part and their words."""
    email = email.strip().casefold()
    local, _, domain = email.partition("@")
    words = [email, local]
    words += _WORDS.findall(fold_keep_separators(local))
    words += [label for label in domain.split(".") if label not in _GENERIC_DOMAIN_LABELS]
    for value in extra:  # e.g. the person's name, when the account has one
        words.append(value)
        words += value.split()
    seen: dict[str, None] = {}
    for word in words:
        folded = fold(word)
        if len(folded) >= 3:
            seen.setdefault(folded)
    return list(seen)


def fold_keep_separators(text: str) -> str:
    """Like fold(), but separators become spaces so the words stay apart."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    kept = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", kept)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415  (CLI only)

    listed = {fold(word) for word in FREQUENCY_LISTS["passwords"]}
    listed.update(fold(word) for word in VIETNAMESE_COMMON)
    listed.discard("")
    return frozenset(listed)


def check_password(password: str, *, email: str, extra: Iterable[str] = ()) -> None:
    """Raise WeakPassword with the reason unless `password` may protect this account."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"Mật khẩu phải có ít nhất {MIN_LENGTH} ký tự "
            f"(the password must be at least {MIN_LENGTH} characters)."
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(
            f"Mật khẩu dài tối đa {MAX_LENGTH} ký tự "
            f"(the password must be at most {MAX_LENGTH} characters)."
        )
    folded = fold(password)
    own = account_words(email, extra)
    core = email.strip().casefold().partition("@")[0]
    if any(word in folded for word in own if len(word) >= 4 or word == fold(core)):
        raise WeakPassword(
            "Mật khẩu không được chứa địa chỉ e-mail, tên tài khoản hay các từ trong đó "
            "(the password must not contain the account's e-mail address or its parts)."
        )
    common = common_passwords()
    stem = fold(_TRAILING_DIGITS_SYMBOLS.sub("", password))
    if folded in common or (len(stem) >= 4 and stem in common) or _one_character(folded):
        raise WeakPassword(
            "Mật khẩu này nằm trong danh sách mật khẩu phổ biến, dễ bị dò ra; hãy chọn mật "
            "khẩu khác, ví dụ một câu dài dễ nhớ (this is a common password; choose another, "
            "e.g. a long sentence)."
        )
    from zxcvbn import zxcvbn  # noqa: PLC0415  (CLI only)

    verdict = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[*own, *VIETNAMESE_COMMON],
                     max_length=ZXCVBN_MAX_LENGTH)
    if int(verdict["score"]) < MIN_SCORE:
        raise WeakPassword(
            "Mật khẩu quá dễ đoán (dãy phím, dãy số, lặp lại, ngày tháng hay từ phổ biến); "
            "hãy dùng một câu dài hoặc thêm từ ít gặp (the password is too easy to guess)."
        )


def _one_character(folded: str) -> bool:
    return len(set(folded)) <= 2  # "aaaaaaaaaa", "ababababab", or nothing but symbols
