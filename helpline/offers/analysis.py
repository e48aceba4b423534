"""Offer text -> warning signs found (with the words that matched), facts known and missing, band.

Works on the folded text of :mod:`helpline.text` (no diacritics, teen code expanded), so
"lương cao", "luong cao" and "lg cao" read alike. Form answers are read per question
(``answers``): "họ trả hết" means travel paid only as an answer to "who pays travel?".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from helpline.offers.signs import BY_ID, Sign
from helpline.safety import detect
from helpline.text import clean, fold, strip_diacritics


class Band(str, enum.Enum):
    HIGH = "high"
    CHECK = "check"
    LOW = "low"


BAND_TEXT = {
    Band.HIGH: "nhiều dấu hiệu lừa đảo / mua bán người",
    Band.CHECK: "cần kiểm tra thêm",
    Band.LOW: "chưa thấy dấu hiệu rõ, nhưng hãy kiểm tra",
}

# The facts the form may ask for, in asking order.
FACTS = ("country", "contact", "travel", "contract", "passport", "company")
SKIP = "skip"


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b")


_PATTERNS: dict[str, re.Pattern[str]] = {
    "high_pay": _rx(
        r"viec nhe (?:\w+ ){0,2}(?:luong|thu nhap|tien) (?:\w+ )?(?:cao|khung|tot|hau|khia)",
        r"(?:luong|thu nhap|hoa hong) (?:rat |cuc |sieu |qua )?(?:khung|khung long|cuc cao|sieu cao|cao ngat|"
        r"cao vut|bao la|khong gioi han|hau hinh|nghin do|ngan do)",
        r"(?:luong|thu nhap) (?:\w+ )?cao (?:\w+ )?khong can",
        r"kiem (?:\w+ ){0,2}(?:tien trieu|vai chuc trieu|hang chuc trieu|chuc cu|tram trieu)",
        r"(?:vai|may|hang) chuc (?:trieu|cu)",
        r"viec nhe (?:\w+ ){0,3}(?:luong|thu nhap) (?:\w+ ){0,2}cao",
        r"viec nhe luong cao", r"(?<!khong )(?<!chua )luong (?:rat |qua |kha |cuc |sieu )?cao(?! hon)",
        r"(?:luong|thu nhap) nghin do", r"viec (?:\w+ )?nhe (?:lam|nhang|tenh)",
    ),
    "travel_paid": _rx(
        r"(?<!lam )bao ve(?= \||$| may bay| xe| tau| khu hoi| hai chieu| 2 chieu| mot chieu| di| sang| qua| va"
        r"| cho| an| o| visa)",
        r"bao (?:luon |het |ca |tron |toan bo )?(?:ve may bay|ve xe|may bay|visa|thi thuc|di lai|an o|an nghi|"
        r"an uong|an ngu|o|"
        r"cho o|xe|xe dua don|chi phi|het|tron goi|tat ca|toan bo|xuat canh|ho chieu|passport|phi)",
        r"(?<!tu )(?<!tu chi )(?:lo|chiu|tra(?! truoc)|ung|chi tra|ho tro|tai tro|dat) (?:\w+ ){0,3}(?:ve"
        r"|tien ve|ve may bay|may bay|visa|di lai|an o|"
        r"chi phi|tien xe|xe|phi di|het|tat|toan bo)",
        r"(?:cong ty|ben do|ho|chu|ben kia|ben tuyen dung|nha tuyen dung|sep|anh ay|chi ay) (?:\w+ ){0,3}"
        r"(?:lo|tra|chiu|bao|ung|chi) (?:\w+ ){0,2}(?:het|tat ca|toan bo|ve|tien|chi phi|cho)",
        r"mien phi (?:\w+ ){0,2}(?:ve|di lai|an o|visa|xuat canh|ho so|chi phi|may bay|100)",
        r"khong (?:mat|ton|can) (?:\w+ ){0,1}(?:mot dong|dong nao|xu nao|chi phi|tien ve|phi)",
        r"0 dong", r"dua don (?:tan noi|tan nha|sang|qua)", r"don tan (?:noi|nha)",
        r"xe (?:dua|don) (?:\w+ )?(?:sang|qua|ve cong ty)", r"an o (?:free|mien phi)", r"o free",
        r"(?:ve|ve may bay|chi phi) (?:\w+ ){0,2}(?:cong ty|ho|ben do|ben kia|chu) (?:lo|tra|chiu|bao|ung)",
        r"ung truoc", r"tru (?:dan |vao )?luong", r"an o mien phi", r"o mien phi", r"nha o mien phi",
    ),
    "risky_destination": _rx(
        r"campuchia", r"cam pu chia", r"cambodia", r"cambodge", r"kampuchea", r"cao mien", r"nam vang",
        r"phnom ?penh", r"phom penh", r"bavet", r"ba vet", r"moc bai", r"svay rieng", r"sihanoukville",
        r"sihanouk", r"xi ha nuc", r"shihanouk", r"poipet", r"poi pet", r"chrey thom", r"kandal", r"koh kong",
        r"myanmar", r"mien dien", r"myawaddy", r"shwe kokko", r"kk park", r"tachileik", r"mong la",
        r"tam giac vang", r"golden triangle", r"bokeo", r"kings romans", r"dac khu", r"khu kinh te dac biet",
        r"boten", r"bo ten", r"nam can", r"(?:sang|qua|ben|o|tai|di) cam(?! on| ket| thay| xuc| dong| nhan| ne)",
        r"(?:lam|viec) online (?:\w+ ){0,2}(?:ben kia|qua|sang) bien gioi",
        r"(?:casino|song bac|song bai|dat bac) (?:\w+ ){0,3}bien gioi", r"bien gioi (?:\w+ ){0,3}(?:casino|song bac)",
        r"thai lan (?:\w+ ){0,3}(?:roi|sau do) (?:\w+ ){0,2}(?:myanmar|mien dien|qua song)",
    ),
    "no_contract": _rx(
        r"khong (?:can |co |ky |lam |phai |dung |cho |duoc )?(?:\w+ )?hop dong",
        r"chua (?:co |ky |dua |thay |duoc |lam )?(?:\w+ )?hop dong",
        r"(?:sang|den|toi|qua|vao) (?:\w+ ){0,3}(?:moi|thi|se) (?:\w+ ){0,1}ky\b",
        r"(?:sang|den|toi|qua|vao) (?:\w+ ){0,3}roi (?:moi )?ky (?:hop dong|hd)",
        r"hop dong (?:\w+ ){0,4}(?:sang|den|toi|qua) (?:\w+ ){0,3}(?:moi|roi|thi|se) (?:\w+ ){0,1}ky",
        r"ky (?:hop dong )?(?:khi|sau khi|luc|lúc|o|tai) (?:\w+ ){0,2}(?:sang|den|toi|qua|ben do|ben kia|noi)",
        r"ky (?:hop dong )?(?:ben do|ben kia|ben nay|tai cho)", r"hop dong (?:mieng|noi mieng|bang loi)",
        r"(?:khoi|khong) (?:can )?ky (?:ket|gi|giay)", r"(?:noi|hua) mieng", r"khong (?:can )?giay to gi",
        r"hop dong (?:\w+ ){0,2}(?:sau|de sau|tinh sau)",
    ),
    "passport_kept": _rx(
        r"(?:giu|cam|thu|nop|gui|dua|giao|cat|quan ly) (?:lai |ho |giup |dum |luon |het )?(?:\w+ )?"
        r"(?:ho chieu|passport|pasport|giay to|can cuoc|cccd|cmnd|cmt|chung minh|the can cuoc)",
        r"(?:ho chieu|passport|pasport|giay to|can cuoc|cccd|cmnd|cmt) (?:\w+ ){0,8}(?:giu|cat giu|quan ly|"
        r"cam|thu lai|nop lai|nop cho|gui lai|gui cho|dua cho|giao cho|nop het)",
        r"giu (?:\w+ ){0,2}cho an toan", r"giu ho cho",
    ),
    "tourist_visa": _rx(
        r"(?:visa|thi thuc|vi sa|diện|dien) (?:\w+ ){0,1}(?:du lich|tham than|tham quan|di choi|du hoc)",
        r"(?:theo|di|bang) (?:\w+ ){0,1}(?:tour|duong du lich|dien du lich|dang du lich)",
        r"(?:du lich|tour) (?:\w+ ){0,4}(?:roi|xong|sau do|sau) (?:\w+ ){0,3}(?:o lai|lam|lam viec|chuyen)",
        r"gia (?:lam )?(?:khach )?du lich", r"dong dau (?:\w+ ){0,2}du lich", r"mien thi thuc (?:\w+ ){0,3}lam",
        r"visa (?:\w+ ){0,2}30 ngay", r"(?:visa|thi thuc) (?:\w+ ){0,2}(?:roi|sau do|sang do) (?:\w+ ){0,3}"
        r"(?:doi|chuyen|lam)",
    ),
    "illegal_crossing": _rx(
        r"duong tat", r"duong mon", r"loi mon", r"duong rung", r"duong trong", r"di tat", r"di chui",
        r"khong can (?:\w+ )?(?:ho chieu|passport|pasport|giay to|thu tuc|visa|xuat canh|cua khau)",
        r"khong (?:phai |di )?(?:qua )?cua khau", r"khong (?:phai )?lam (?:\w+ )?(?:ho chieu|thu tuc|giay to)",
        r"vuot bien", r"trot loi", r"qua song (?:\w+ ){0,3}(?:sang|bien gioi|lao|cam|campuchia|trung quoc)",
        r"(?:nguoi|co nguoi|xe) (?:\w+ )?dan duong", r"di bo (?:\w+ ){0,2}(?:qua|sang) bien gioi",
        r"(?:qua|sang|vuot) bien gioi (?:\w+ ){0,2}(?:ban dem|trong dem|dem|lau|trai phep)",
        r"thuyen (?:\w+ ){0,2}(?:qua|sang) song", r"qua song (?:\w+ ){0,2}thuyen", r"qua nui",
        r"(?:di bo|leo) (?:\w+ ){0,2}(?:qua )?(?:nui|rung|doi)", r"xuat canh (?:nhanh"
        r"|ngay) (?:\w+ ){0,2}khong can", r"khong can thu tuc", r"xuat canh trai phep",
        r"(?:qua|sang|vuot|di) (?:\w+ ){0,1}(?:duong|loi) (?:\w+ ){0,1}(?:bo|rung|nui|song) (?:\w+ ){0,2}bien gioi",
    ),
    "upfront_fee": _rx(
        r"phi (?:ho so|moi gioi|giu cho|dich vu|xuat canh|lam visa|lam giay to|dao tao|dat coc|tuyen dung|"
        r"gioi thieu|van chuyen|kham suc khoe|bao hiem|thu tuc|lam ho so|lam ho chieu|visa)",
        r"(?:tien|le phi) (?:moi gioi|ho so|coc|dat coc|giu cho|thu tuc|lam visa|lam giay to|xuat canh)",
        r"dat coc", r"coc (?:truoc|\d|tien|giu|mot|hai|ba|nam|muoi|1|2|3|5)", r"tien coc",
        r"(?:nop|(?<!lao )dong|chuyen khoan|gui|dat|tra) (?:\w+ ){0,2}(?:tien |phi )?(?:truoc|coc)",
        r"(?:nop|(?<!lao )dong|chuyen khoan|nap|mat|hoc phi|chi phi|phi) (?:\w+ ){0,2}\d+ ?(?:trieu|tr|cu|k"
        r"|nghin|ngan|usd|do)",
        r"ky quy", r"phi (?:\w+ ){0,2}\d",
        r"(?:nop|(?<!lao )dong|chuyen khoan) (?:\w+ ){0,1}(?:tien|phi) (?:\w+ ){0,3}(?:moi|truoc|de|thi) (?:\w+ ){0,2}"
        r"(?:duoc|di|xuat canh|lam)", r"mat phi", r"thu phi",
    ),
    "urgency_secrecy": _rx(
        r"(?:tuyen|can|di|bay|xuat canh|xuat phat|nhan|quyet dinh|tra loi|lien he|dang ky|chot) gap",
        r"gap gap", r"can nguoi gap", r"(?:bay|xuat canh|xuat phat|len duong|sang) "
        r"(?:\w+ ){0,1}(?:ngay|luon|trong tuan|tuan nay|tuan sau|ngay mai|mai|toi nay|trong ngay|sau \d+ ngay)",
        r"di (?:ngay )?(?:trong tuan|tuan nay|trong thang nay|thang nay|ngay mai|toi mai|toi nay|trong ngay)",
        r"(?:mai|ngay mai|toi nay|toi mai) (?:\w+ )?(?:di|bay) (?:luon|ngay)?", r"bay nhanh", r"giuc",
        r"con (?:\w+ ){0,1}(?:suat|slot)", r"(?:cho|suat) (?:it|co han) lam", r"bao mat",
        r"(?:tranh|dung|khong can|khong duoc) (?:\w+ ){0,1}(?:noi|ke|bao) (?:\w+ ){0,1}(?:voi )?(?:ai|gia dinh"
        r"|bo me|nguoi nha)",
        r"xoa tin nhan", r"dung (?:de |cho )?(?:\w+ ){0,2}biet", r"bao nhanh",
        r"chi con (?:\w+ ){0,2}(?:suat|cho|slot|ve|nguoi|vi tri|xuat)", r"(?:so luong|suat|cho) (?:co han|han che)",
        r"sap het (?:suat|cho|slot|han)", r"het (?:suat|cho|slot) (?:la|thi)",
        r"(?:dung|khong duoc|khong nen|khoi|cam) (?:\w+ ){0,1}(?:noi|ke|bao|cho biet|tiet lo|khoe) (?:\w+ ){0,2}"
        r"(?:ai|gia dinh|bo me|nguoi nha|ba me|cha me|nha|ban be|nguoi khac|cong an|me|bo)",
        r"(?:giu|phai) (?:\w+ ){0,1}bi mat", r"bi mat (?:\w+ ){0,2}(?:nhe|voi|nha)",
        r"(?:quyet|tra loi|chot|dang ky) (?:\w+ ){0,1}(?:nhanh|lien|ngay)", r"nhanh (?:tay|chan) (?:len|keo)",
        r"(?:trong|truoc) (?:hom nay|toi nay|ngay mai|24h|24 gio|\d+ ngay)", r"khong (?:can )?(?:hoi|ban) y kien",
        r"lam xong (?:ho so )?(?:la )?(?:di|bay) (?:ngay|luon)",
    ),
    "marriage_broker": _rx(
        r"lay (?:\w+ ){0,1}(?:chong|vo) (?:\w+ ){0,2}(?:trung quoc|han quoc|han|dai loan|nuoc ngoai|tay|"
        r"singapore|nhat|trung|hq|hong kong|ma cao)",
        r"(?:chong|vo|nguoi yeu|ban trai|dan ong|anh) (?:trung quoc|han quoc|han|dai loan|nuoc ngoai|trung|tay)",
        r"moi gioi (?:\w+ ){0,1}(?:hon nhan|lay chong|lay vo|ket hon|vo|chong|co dau)", r"ba moi", r"mai moi",
        r"(?:coi|xem) mat", r"(?:qua|bang|xem|gui|coi) (?:\w+ ){0,1}anh (?:\w+ ){0,3}(?:chong|vo|ket hon|cuoi)",
        r"(?:lay|cuoi|ket hon|chon) (?:\w+ ){0,3}qua anh", r"tien (?:sinh le|thach cuoi|cuoi|nha gai)",
        r"sinh le", r"(?:gui|cho|biếu|bieu|dua) (?:\w+ ){0,3}(?:nha gai|gia dinh|bo me|cha me|bome) "
        r"(?:\w+ ){0,2}\d+ ?(?:trieu|tr|cu|van|te)", r"(?:gui|cho|bieu|dua) (?:\w+ ){0,2}nha \d+ ?(?:trieu|tr|cu|van)",
        r"ket hon (?:voi )?(?:\w+ ){0,1}(?:nguoi )?(?:trung quoc|han quoc|han|dai loan|nuoc ngoai|trung)",
        r"co dau (?:viet|trung|han|dai loan)", r"(?:lam|sang|qua|di) (?:lam )?dau (?:ben|o|nuoc) ",
        r"lam dau (?:trung quoc|han|dai loan|nuoc ngoai)", r"lay chong", r"muon cuoi", r"(?:can|tim|kiem) vo",
        r"(?:anh|a) (?:trung quoc|han quoc|dai loan)", r"viet kieu", r"\d+ van (?:te|nhan dan te|ndt)",
        r"gui tien (?:\w+ ){0,2}(?:cho )?(?:nha|bo me|gia dinh)",
        r"nha (?:anh ay|anh|chong|trai) (?:\w+ ){0,2}(?:gui|cho|dua) (?:\w+ ){0,3}\d", r"(?:di|sang"
        r"|qua) (?:trung quoc|tq) (?:\w+ ){0,2}"
        r"(?:lay chong|lam dau|ket hon|cuoi)",
    ),
}

# Contact through a chat app counts only when no office, address or licence is given.
_PLATFORM = (r"(?:telegram|tele|zalo|facebook|fb|face|phay|tiktok|tik tok|messenger|mess|instagram|wechat|whatsapp|"
             r"viber|linkedin|group|fanpage|page)")
_HANDLE = re.compile(r"(?<![\w.])@[A-Za-z][\w.]{3,}")  # a Telegram or TikTok handle, not an e-mail address
_CHAT_VIA = _rx(r"(?:qua|tren) (?:\w+ ){0,1}" + _PLATFORM)  # counts unless a known person uses the app
_KNOWN_PERSON = _rx(r"ban cu", r"ban (?:em|minh|toi|than|hoc|choi)", r"nguoi quen", r"chi ho", r"anh ho",
                    r"nguoi yeu", r"ban trai", r"hang xom", r"chi gai", r"anh trai", r"co giao", r"thay")
_CHAT = _rx(r"inbox", r"nhan tin", r"nt", r"kb", r"ket ban", r"comment", r"cmt", r"binh luan",
            r"(?:lien he|lh|add|dang ky|lien lac|tim) (?:\w+ ){0,2}" + _PLATFORM,
            r"(?:co nguoi|nguoi la|acc|tai khoan|nick|ai do|1 nguoi|mot nguoi|hr|tu xung|quang cao) (?:\w+ ){0,2}"
            + _PLATFORM, _PLATFORM + r" (?:\w+ )?(?:nhan tin|tuyen|moi|gui)",
            r"(?:lien he|lh|hotline|sdt|so dien thoai|zalo|goi) (?:\w+ ){0,3}(?:0\d\w*|84\d\w*)",
            r"chi (?:lien lac|noi chuyen|nhan) (?:\w+ ){0,2}qua", r"profile", r"so zalo", r"nhan " + _PLATFORM)
_OFFICE = _rx(r"van phong", r"tru so", r"dia chi", r"giay phep", r"so giay phep", r"co so dao tao",
              r"(?:den|gap) (?:\w+ ){0,2}truc tiep", r"truc tiep tai", r"den (?:quan|xuong|kho|nha hang)",
              r"trung tam dich vu viec lam", r"dolab", r"website", r"trang web chinh thuc")
_AMOUNT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[.,]\d{3})+|\d+(?:[.,]\d+)?)\s*(?:(?:-|den|toi|~)\s*(\d{1,3}(?:[.,]\d{3})+"
    r"|\d+(?:[.,]\d+)?))?"
    r"\s*(k ?(?:do|usd|\$)|trieu|tr|cu|usd|\$|do la|dola|dollar|do|eur|euro|aud|sgd|k\b|nghin|ngan)",
)
_TO_MILLION = {"usd": 0.025, "$": 0.025, "do la": 0.025, "dola": 0.025, "dollar": 0.025, "do": 0.025,
               "eur": 0.027, "euro": 0.027, "aud": 0.016, "sgd": 0.019, "k": 0.001, "nghin": 0.001, "ngan": 0.001}
_PER_DAY = re.compile(r"^\s*(?:/|mot |1 |moi |mỗi )?\s*(?:ngay|buoi toi)\b")
_PER_PIECE = re.compile(r"^\s*(?:/|mot |1 |moi )?\s*(?:dau nguoi|nguoi|chuyen|lan)\b")
_PER_HOUR = re.compile(r"^\s*(?:/|mot |1 |moi )?\s*(?:gio|h|buoi|tieng)\b")
_DAY_BEFORE = re.compile(r"(?:moi|1|mot) ngay (?:\w+ )?$")
_PER_MONTH = re.compile(r"^\s*(?:/|mot |1 |moi |mỗi )?\s*thang\b")
_PIECE_BEFORE = re.compile(r"(?:moi|1|mot) (?:chuyen|lan|nguoi|dau nguoi)(?: \w+)?\s*$")
_PAY_BEFORE = re.compile(r"\b(?:luong|lg|thu nhap|kiem|hoa hong|tien cong|khoi diem|thang)\b")
_FEE_BEFORE = re.compile(r"\b(?:phi|coc|nop|dong|chuyen khoan|mat|chi phi|ho tro|cho|gui|chuoc|ky quy|truoc|nap|"
                         r"nhan|tien|vay|no|hoc)\b")
_LICENSED = _rx(r"giay phep", r"trung tam lao dong ngoai nuoc", r"eps", r"ky nang dac dinh", r"thuc tap sinh",
                r"hop dong (?:lao dong|3 ben|mau|song ngu|dien tu|chinh thuc)", r"da ky hop dong",
                r"ky hop dong (?:\w+ ){0,4}truoc", r"phieu thu", r"yeu cau (?:\w+ ){0,3}(?:kinh nghiem|jlpt|chung chi)",
                r"cuc quan ly lao dong ngoai nuoc", r"ubnd", r"uy ban nhan dan", r"chuong trinh hop tac",
                r"doanh nghiep co giay phep", r"cong ty phai cu")


def _amounts(text: str) -> list[tuple[float, str]]:
    """Money amounts said as pay: (millions of đồng, "month" | "day" | "piece"). Fees and gifts are left out."""
    base = strip_diacritics(clean(text).lower())
    out: list[tuple[float, str]] = []
    for m in _AMOUNT.finditer(base):
        values = []
        for raw in (m.group(1), m.group(2)):
            if not raw:
                continue
            raw = raw.replace(",", ".")
            values.append(float(raw.replace(".", "")) if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw) else float(raw))
        unit = m.group(3).replace(" ", "")
        if unit.startswith("k") and len(unit) > 1:
            factor = 1000 * 0.025
        else:
            factor = _TO_MILLION.get(m.group(3), 1.0)
        value = max(values) * factor
        if factor == 1.0 and value >= 100_000:  # "30.000.000 đ" written in đồng
            value /= 1_000_000
        after, before = base[m.end():m.end() + 14], base[max(0, m.start() - 40):m.start()]
        if _PER_HOUR.match(after):
            continue
        if _PER_DAY.match(after) or _DAY_BEFORE.search(before):
            out.append((value, "day"))
        elif _PER_PIECE.match(after) or _PIECE_BEFORE.search(before):
            out.append((value, "piece"))
        else:
            pay = [p.end() for p in _PAY_BEFORE.finditer(before)]
            fee = [f.end() for f in _FEE_BEFORE.finditer(before)]
            if _PER_MONTH.match(after) and not (fee and max(fee) > len(before) - 12):
                pay.append(len(before))  # "4.000 AUD/tháng": a monthly wage even without "lương"
            if pay and (not fee or max(pay) > max(fee)):
                out.append((value, "month"))
    return out


_COUNTRY = _rx(r"campuchia", r"myanmar", r"mien dien", r"lao", r"thai lan", r"trung quoc", r"dai loan",
               r"han quoc", r"han", r"nhat", r"nhat ban", r"malaysia", r"singapore", r"duc", r"uc", r"uae",
               r"dubai", r"a rap", r"nga", r"ba lan", r"rumani", r"hungary", r"phap", r"anh", r"my",
               r"chau au", r"trung dong", r"philippines", r"indonesia", r"hong kong", r"ma cao", r"sec",
               r"nuoc ngoai", r"bien gioi", r"xuat khau lao dong", r"sang", r"qua ben")
_HELD_HINT = _rx(r"dang o", r"da sang", r"da qua", r"bi giu", r"bi nhot", r"khong cho ve", r"khong duoc ve")
_OFFER_CUE = _rx(r"moi", r"ru", r"ru re", r"tuyen", r"tuyen dung", r"can tuyen", r"gioi thieu", r"nhan tin",
                 r"inbox", r"ba moi", r"moi gioi", r"co nguoi", r"cong ty", r"viec lam", r"di lam", r"lam viec",
                 r"xuat khau lao dong", r"lay chong", r"lay vo", r"ket hon", r"luong", r"thu nhap")
_CONTRACT_YES = _rx(r"co hop dong", r"da ky hop dong", r"ky hop dong (?:truoc|o|tai) (?:\w+ ){0,2}"
                    r"(?:viet nam|cong ty|van phong|trong nuoc)", r"hop dong (?:ro rang|day du|tieng viet)")


@dataclass(frozen=True)
class Found:
    sign: Sign
    evidence: str  # the folded words that matched


@dataclass(frozen=True)
class Analysis:
    found: tuple[Found, ...]
    band: Band
    known: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    held_abroad: bool = False
    marriage: bool = False

    @property
    def sign_ids(self) -> tuple[str, ...]:
        return tuple(f.sign.id for f in self.found)


def _high_pay(text: str, folded: str) -> str | None:
    if found := _PATTERNS["high_pay"].search(folded):
        return found.group(0)
    if _LICENSED.search(folded):
        return None  # a licensed programme's stated wage is not the lure
    for value, per in _amounts(text):
        if (per == "month" and value > 15) or (per == "day" and value >= 0.3) or (per == "piece" and value >= 1):
            return f"{value:g} trieu/{per}"
    return None


_SELF_KEEP = re.compile(r"\b(?:tu|em|minh|toi|con) (?:tu )?(?:giu|cam|cat)\b(?! (?:ho|cho|giup|dum))")
_CLAUSE_END = re.compile(r"[,;!?\n:()\[\]]+|\.(?!\d)")
_BAO_VE_ALONE = re.compile(r"(?<!lam )\bbao ve(?= \||$)")  # "bao vé," (tickets paid), not "làm bảo vệ" (a guard)


def _find(text: str, folded: str) -> list[Found]:
    found: list[Found] = []
    clauses = " | ".join(fold(part) for part in _CLAUSE_END.split(text))
    for sign_id, sign in BY_ID.items():
        if sign_id == "high_pay":
            evidence = _high_pay(text, folded)
        elif sign_id == "chat_only_contact":
            chat = (_CHAT.search(folded) or _HANDLE.search(text)
                    or (None if _KNOWN_PERSON.search(folded) else _CHAT_VIA.search(folded)))
            evidence = chat.group(0) if chat and not _OFFICE.search(folded) else None
        else:
            match = _PATTERNS[sign_id].search(folded)
            if match is None and sign_id == "travel_paid":
                match = _BAO_VE_ALONE.search(clauses)
            evidence = match.group(0) if match else None
        if sign_id == "passport_kept" and evidence and _SELF_KEEP.search(folded):
            evidence = None  # "hộ chiếu em tự cầm": the person keeps it
        if evidence:
            found.append(Found(sign, evidence.strip()))
    return found


def _skipped(answer: str) -> bool:
    folded = fold(answer)
    return folded in ("", "bo qua", "bo", "qua", "skip", "khong biet", "chua biet", "khong ro", "chua ro",
                      "khong nho", "khong co thong tin", "khong", "ko biet", "bo qua cau nay", "khong tra loi",
                      "khong muon noi", "tiep", "next")


def _answer_signs(question: str, answer: str) -> list[Found]:
    """Signs in a short answer, read against the question it answers."""
    folded = fold(answer)
    found = [f for f in _find(answer, folded) if f.sign.id != "high_pay"]
    ids = {f.sign.id for f in found}
    yes = re.search(r"\b(?:co|dung|vang|u|uh|roi|da|ho(?! chieu)|cong ty|ben do|ben kia|chu|sep)\b", folded)
    no = re.search(r"\b(?:khong|chua|khoi)\b", folded)
    if question == "travel" and "travel_paid" not in ids and (
            re.search(r"\b(?:ho|cong ty|ben do|ben kia|ben tuyen|chu|sep|nguoi moi|nguoi tuyen)\b", folded)
            and not re.search(r"\b(?:tu tuc|tu tra|minh tra|em tra|toi tra|tu bo|gia dinh tra)\b", folded)
            or re.search(r"\b(?:mien phi|bao het|lo het|khong mat)\b", folded)):
        found.append(Found(BY_ID["travel_paid"], folded))
    if question == "contract" and "no_contract" not in ids and no and not _CONTRACT_YES.search(folded):
        found.append(Found(BY_ID["no_contract"], folded))
    if question == "passport" and not ids & {"passport_kept", "illegal_crossing", "tourist_visa"}:
        if re.search(r"\b(?:giu|cam|nop|thu|dua cho|gui)\b", folded) and yes and not no and not _SELF_KEEP.search(
                folded):
            found.append(Found(BY_ID["passport_kept"], folded))
    if question == "contact" and "chat_only_contact" in ids and _OFFICE.search(fold(answer)):
        found = [f for f in found if f.sign.id != "chat_only_contact"]
    return found


def _known(folded: str, found_ids: set[str], answers: Mapping[str, str]) -> dict[str, str]:
    known: dict[str, str] = {}
    if "risky_destination" in found_ids or (m := _COUNTRY.search(folded)):
        known["country"] = "risky" if "risky_destination" in found_ids else m.group(0)  # type: ignore[union-attr]
    if "chat_only_contact" in found_ids or _OFFICE.search(folded) or re.search(r"\b(?:nguoi quen|ban|ho hang|"
                                                                               r"hang xom|gap truc tiep)\b", folded):
        known["contact"] = "given"
    if found_ids & {"travel_paid"} or re.search(r"\b(?:tu tuc|tu tra|chi phi|ve may bay|tien ve)\b", folded):
        known["travel"] = "given"
    if found_ids & {"no_contract"} or "hop dong" in folded:
        known["contract"] = "given"
    if found_ids & {"passport_kept", "tourist_visa", "illegal_crossing"} or re.search(
            r"\b(?:ho chieu|passport|visa|thi thuc|giay to)\b", folded):
        known["passport"] = "given"
    if re.search(r"\b(?:cong ty|doanh nghiep|tap doan|trung tam)\b \w+", folded):
        known["company"] = "given"
    for fact, answer in answers.items():
        if answer is not None:
            known[fact] = SKIP if _skipped(answer) else "answered"
    return known


# A fee asked by a go-between in a licensed programme's name is the impostor scam DOLAB warns about.
_GO_BETWEEN = _rx(r"co nguoi", r"nguoi cua", r"tu xung", r"tai khoan ca nhan", r"nop them", r"uu tien",
                  r"(?:chon|di|bay|xuat canh) nhanh", r"trung gian", r"moi gioi", r"\bco\b (?:\w+ )?(?:quen|lo duoc)")
_WEAK_ALONE = frozenset({"upfront_fee", "travel_paid", "chat_only_contact"})


def _band(found: list[Found], licensed: bool) -> Band:
    ids = {f.sign.id for f in found}
    strong = [f for f in found if f.sign.strong]
    if len(ids) >= 3 or (strong and len(ids) >= 2) or ids & {"passport_kept", "illegal_crossing"}:
        return Band.HIGH
    if licensed and len(ids) == 1 and ids <= _WEAK_ALONE:
        return Band.LOW  # one fee or ticket in a licensed programme's offer: still "hãy kiểm tra"
    if ids:
        return Band.CHECK
    return Band.LOW


def analyse(text: str, answers: Mapping[str, str | None] | None = None) -> Analysis:
    """Warning signs in an offer (and in the form's answers, keyed by fact), the facts still missing, the band."""
    answers = {k: v for k, v in (answers or {}).items() if v is not None}
    folded = fold(text)
    found = _find(text, folded)
    seen = {f.sign.id for f in found}
    for question, answer in answers.items():
        if _skipped(answer):
            continue
        for item in _answer_signs(question, answer):
            if item.sign.id not in seen:
                found.append(item)
                seen.add(item.sign.id)
    order = {sid: i for i, sid in enumerate(BY_ID)}
    found.sort(key=lambda f: order[f.sign.id])
    known = _known(folded, seen, answers)
    missing = tuple(f for f in FACTS if f not in known)
    marriage = "marriage_broker" in seen
    held = bool(_HELD_HINT.search(folded)) and detect(text).is_emergency
    licensed = bool(_LICENSED.search(folded)) and not _GO_BETWEEN.search(folded)
    return Analysis(tuple(found), _band(found, licensed), known, missing, held, marriage)


_GENERAL_QUESTION = re.compile(r"^(?:neu|khi|gia su)\b|\bneu\b.*\bthi\b|\bla gi\b|\bthe nao la\b")


def looks_like_offer(text: str) -> bool:
    """A message that describes an offer (for routing from the FAQ path), not a general question."""
    folded = fold(text)
    result = analyse(text)
    if len(result.found) >= 3:
        return True
    if "marriage_broker" in result.sign_ids and _OFFER_CUE.search(folded):
        return True
    if _GENERAL_QUESTION.search(folded) or not _OFFER_CUE.search(folded):
        return False
    return len(result.found) >= 2 or result.band is Band.HIGH
