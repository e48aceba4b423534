"""Minimum strength for staff passwords: length, not a common password, not the username.

The list below is small on purpose: passwords people in Vietnam and elsewhere pick first
(keyboard runs, "mật khẩu", "anh yêu em", the service's own words). A password is refused
when, lower-cased and without diacritics, it is on the list, or is a listed word with only
digits and punctuation around it ("Anhyeuem@2024", "matkhau123456"), or has hardly any
different characters, or contains the username.
"""

from __future__ import annotations

import re
import unicodedata

MIN_PASSWORD = 10
MAX_PASSWORD = 256
MIN_DISTINCT = 5

# Words and whole passwords (compared lower-case, without diacritics or spaces).
COMMON_PASSWORDS: frozenset[str] = frozenset("""
password passw0rd p@ssword p@ssw0rd pass pass123 password1 password123 passwords mypassword
matkhau matkhau1 matkhau12 matkhau123 matkhau1234 matkhaucuatoi matkhaumoi matkhaumanh
anhyeuem emyeuanh yeuem yeuanh iloveyou iloveu loveyou love yeuemnhieu anhyeuemnhieu
emyeuanhnhieu yeuemmaimai yeuanhmaimai tinhyeu tinhyeucuatoi honey baby babe darling sweetheart
123456 1234567 12345678 123456789 1234567890 0123456789 987654321 9876543210 123123 123123123
111111 1111111111 000000 0000000000 121212 112233 11223344 123321 654321 666666 888888 999999
1234512345 1122334455 147258369 147852369 123654789 159753 159357 789456123 456789 123abc
abc123 abcd1234 abc12345 a123456 a1234567 aa123456 qwe123 qwe123456 1q2w3e4r 1q2w3e4r5t
qwerty qwertyuiop qwerty123 qwertyui asdfgh asdfghjkl zxcvbnm zxcvbnm123 qazwsx qazwsxedc
1qaz2wsx 1qaz2wsx3edc poiuytrewq asdf1234 zaq12wsx abcdef abcdefgh abcdefghij abcdefghijk
admin admin123 admin1234 administrator root toor user user123 guest test test123 testing
welcome welcome1 welcome123 letmein login login123 default changeme secret secret123 master
hello hello123 xinchao xinchao123 chaoban vietnam vietnam123 vietnam2024 vietnam2025 hanoi
saigon hochiminh danang haiphong conmeo concho meomeo hoahong trangtrang bongbong
tongdai tongdai111 duongdaynong hotline hotline111 helpline helpline111 bantruc nhanvien giamsat
nhanvien123 giamsat123 congan congan113 cuutoi cuuem cuuvoi baove baotroem treem
doimatkhau taikhoan dangnhap khongbiet khongco batky quenmatkhau motaikhoan
sunshine princess dragon monkey football baseball superman batman shadow michael jennifer
whatever trustno1 starwars computer internet samsung iphone google facebook zalo telegram
messenger viettel mobifone vinaphone
""".split())

_AROUND = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$")


def _plain(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too weak (Vietnamese / English), or None if it is acceptable."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return (f"mật khẩu phải có từ {MIN_PASSWORD} đến {MAX_PASSWORD} ký tự / "
                f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    plain = _plain(password)
    compact = re.sub(r"\s+", "", plain)
    core = _AROUND.match(compact)
    word = core.group(1) if core else compact
    if compact in COMMON_PASSWORDS or word in COMMON_PASSWORDS or not word:
        return ("mật khẩu quá phổ biến, dễ đoán (chỉ là một từ thông dụng với số hoặc ký hiệu) / "
                "the password is too common (a well-known password, or a common word with digits)")
    if len(set(compact)) < MIN_DISTINCT:
        return (f"mật khẩu cần ít nhất {MIN_DISTINCT} ký tự khác nhau / "
                f"the password needs at least {MIN_DISTINCT} different characters")
    user = _plain(username).strip()
    if len(user) >= 3 and user in plain:
        return "mật khẩu không được chứa tên đăng nhập / the password must not contain the username"
    return None
