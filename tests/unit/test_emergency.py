"""Tests for helpline.safety (emergency detection)."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from helpline.safety import Risk, RiskLevel, detect
from helpline.safety.emergency import load_lexicon_data
from helpline.text import fold

ROOT = Path(__file__).resolve().parents[2]
IMMEDIATE, URGENT, CONCERN, NONE = RiskLevel.IMMEDIATE, RiskLevel.URGENT, RiskLevel.CONCERN, RiskLevel.NONE


def _load_eval_script():
    if "eval_safety" in sys.modules:
        return sys.modules["eval_safety"]
    spec = importlib.util.spec_from_file_location("eval_safety", ROOT / "scripts" / "eval_safety.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_safety"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# --- the same emergency in every spelling ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Cứu tôi với, tôi bị nhốt",
        "cuu toi voi, toi bi nhot",
        "CUU TOI VOI TOI BI NHOT",
        "cuu e vs, e bi nhot",  # teen code: e = em, vs = voi
        "cứu em vs e bị nhốt ko cho ra ngoài",
        "Đang bị giam ở Lào, không cho về",
        "đang bị giam ở lào",
        "ĐANG BỊ GIỮ Ở MYANMAR",
        "Họ đang đánh tôi",
        "ho dang danh toi",
        "Tôi bị bán sang Trung Quốc",
        "t bi ban sang tq",  # t = toi, tq = trung quoc
        "Tôi không muốn sống nữa",
        "toi ko muon song nua",
        "help",
        "SOS",
        "Cứu!!!",
        "e bi ep lua dao o cpc, ko du chi tieu la bi dien giat",
        "cứu\u200b tôi",  # zero-width space
        "Cứu tôi",  # decomposed (NFD) input
    ],
)
def test_immediate_in_every_spelling(text: str) -> None:
    risk = detect(text)
    assert risk.level == IMMEDIATE, risk
    assert risk.is_emergency


@pytest.mark.parametrize(
    "text",
    [
        "Công ty giữ hộ chiếu của tôi không trả",
        "cty giu hc cua e ko tra",
        "chủ không cho tôi nghỉ việc, đòi bồi thường 50 triệu",
        "chu ko cho toi nghi viec",
        "Chị gái tôi sang Trung Quốc làm thuê, giờ mất liên lạc",
        "em gai toi di xkld, 2 thang ko lien lac dc",
        "Có người đòi 200 triệu tiền chuộc em trai tôi",
        "ngay mai moi gioi den don toi di, bme ep",
        "Tôi nợ công ty 5000 đô, phải làm trả nợ mới được về",
        "hộ chiếu bị giữ rồi, giờ sao",
        "Con tôi mất tích từ sáng, có người lạ dắt đi",  # issue 14: a child gone is urgent (steps + ticket)
    ],
)
def test_urgent_situations_are_emergencies(text: str) -> None:
    risk = detect(text)
    assert risk.is_emergency, risk


@pytest.mark.parametrize(
    "text",
    [
        "Có người mời em sang Campuchia làm việc nhẹ lương cao, có nên đi không?",
        "co nguoi ru e di lam o tq, bao an o, co lua dao ko",
        "Mẹ muốn em lấy chồng Hàn Quốc qua môi giới, em lo lắm",
        "bạn tôi định đi làm casino ở Campuchia, tôi thấy nghi",
    ],
)
def test_concern_is_not_an_emergency(text: str) -> None:
    assert detect(text).level == CONCERN


# --- talk ABOUT danger must not fire ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Bị lừa bán thì phạt mấy năm tù?",
        "bi lua ban thi phat may nam tu",
        "Mua bán người là gì?",
        "mua ban nguoi la gi",
        "Em làm bài tập về mua bán người, cho em xin số liệu",
        "e lam bai thuyet trinh ve nguoi bi nhot o campuchia",
        "Tôi đọc báo thấy nhiều người bị nhốt ở Campuchia",
        "Nếu bị nhốt thì gọi ai?",
        "neu bi giu ho chieu thi lien he dau",
        "Năm ngoái chị tôi bị bán, đã được giải cứu và về nhà rồi, giờ được hỗ trợ gì?",
        "hoi truoc toi bi nhot o cpc, tron ve duoc roi",
        "Hồi 2018 tôi bị lừa sang Malaysia, giờ về quê làm ruộng rồi",
        "Giữ hộ chiếu của người lao động có phạm pháp không?",
        "Tội bắt cóc trẻ em bị xử lý thế nào",
        "Tôi không bị nhốt, chỉ hỏi về luật thôi",
        "Tôi mệt muốn chết vì bài tập",
        "Từ từ đã, để mình hỏi lại",
        "tôi bị giảm giờ làm",
        "Tổng đài có giữ bí mật danh tính không?",
        "nghe noi o campuchia ho nhot nguoi viet, co dung ko",
        "Tôi muốn nói chuyện với nhân viên",
        "",
        "   ",
    ],
)
def test_talk_about_danger_is_not_an_emergency(text: str) -> None:
    risk = detect(text)
    assert not risk.is_emergency, risk


@pytest.mark.parametrize(
    "text",
    [
        "cứu tôi, tôi bị nhốt, nhốt người thì bị phạt mấy năm?",  # question, but a cry for help first
        "Tôi bị nhốt ở Campuchia, luật có bảo vệ tôi không?",
        "nếu báo công an thì họ sẽ giết em, em đang bị nhốt",
        "Bọn nó nói nếu em báo công an thì sẽ giết em",  # threat in the consequent of "neu"
        "năm ngoái tôi sang Campuchia, giờ vẫn bị giữ ở đây",  # past start, present danger
        "Em là học sinh lớp 9, em đang bị nhốt ở nhà người lạ",
        "Tôi bị bịt mắt đưa lên xe",  # "bit" is teen code for "biet": the lexicon must say "biet mat"
    ],
)
def test_first_person_present_wins_over_framing(text: str) -> None:
    assert detect(text).is_emergency, detect(text)


def test_negation_keeps_the_other_signal() -> None:
    risk = detect("toi khong bi nhot nhung bi giu ho chieu")
    assert risk.level == URGENT
    assert not any(r.startswith("confinement:") for r in risk.reasons)
    assert "passport:giu ho chieu" in risk.reasons


def test_a_cry_for_help_is_not_negated() -> None:
    assert detect("co ai ko, cuu mk voi").level == IMMEDIATE  # "ko, cuu" is not "khong cuu"


def test_danger_to_a_relative_is_urgent_but_a_child_taken_now_is_immediate() -> None:
    assert detect("mẹ tôi đang bị giữ ở Trung Quốc").level == URGENT
    assert detect("Con trai tôi 5 tuổi vừa bị người lạ bế đi").level == IMMEDIATE


# --- conversation state and NLU intent -----------------------------------------------------


@pytest.mark.parametrize("text", ["toi so lam", "ho dang den", "giup voi", "Điện thoại sắp hết pin", "ok", ""])
def test_follow_ups_in_an_emergency_stay_urgent(text: str) -> None:
    assert not detect(text).is_emergency or text == ""
    risk = detect(text, in_emergency=True)
    assert risk.level in (URGENT, IMMEDIATE)
    assert "in_emergency" in risk.reasons or risk.level == IMMEDIATE


@pytest.mark.parametrize("text", ["dc r, cam on, e an toan roi", "Tôi đã về đến nhà an toàn, cảm ơn"])
def test_safe_close_ends_the_emergency(text: str) -> None:
    assert not detect(text, in_emergency=True).is_emergency


def test_in_emergency_never_lowers_a_level() -> None:
    assert detect("tôi bị nhốt", in_emergency=True).level == IMMEDIATE


def test_emergency_intent_raises_to_urgent() -> None:
    assert detect("làm ơn giúp tôi ngay").level == NONE
    risk = detect("làm ơn giúp tôi ngay", intent="emergency")
    assert risk.level == URGENT
    assert "intent:emergency" in risk.reasons


@pytest.mark.parametrize(
    "text",
    ["Bị lừa bán thì phạt mấy năm tù?", "em làm bài tập về buôn người", "năm ngoái tôi bị lừa, đã về nhà rồi"],
)
def test_emergency_intent_does_not_override_talk_about(text: str) -> None:
    assert not detect(text, intent="emergency").is_emergency


def test_ask_human_intent_alone_is_not_an_emergency() -> None:
    assert detect("cho tôi gặp người thật", intent="ask_human").level == NONE


# --- API shape ----------------------------------------------------------------------------


def test_api_shape() -> None:
    risk = detect("cuu toi, toi bi nhot")
    assert isinstance(risk, Risk)
    assert isinstance(risk.reasons, tuple) and all(isinstance(r, str) for r in risk.reasons)
    assert "confinement:bi nhot" in risk.reasons
    assert RiskLevel("urgent") is URGENT and URGENT == "urgent"
    with pytest.raises(dataclasses.FrozenInstanceError):
        risk.level = NONE  # type: ignore[misc]
    assert Risk(NONE, ()).is_emergency is False


def test_reasons_name_group_and_phrase() -> None:
    risk = detect("Công ty giữ hộ chiếu của tôi")
    assert risk.reasons[0] == "passport:giu ho chieu"
    assert all(":" in r or r in {"first_person", "present", "in_emergency", "fear", "offer"} for r in risk.reasons)


def test_import_does_not_pull_in_rasa() -> None:
    code = "import sys, helpline.safety; sys.exit(any(m.split('.')[0] in ('rasa', 'rasa_sdk') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


# --- lexicon integrity --------------------------------------------------------------------


def _all_phrases() -> list[str]:
    data = load_lexicon_data()
    phrases = [p for spec in data["signals"].values() for p in spec["phrases"]]
    phrases += [p for ps in data["cues"].values() for p in ps]
    return phrases + list(data["exact_help"])


def test_lexicon_phrases_are_folded() -> None:
    data = load_lexicon_data()
    entries = _all_phrases() + [w for ws in data["words"].values() for w in ws]
    assert all(isinstance(p, str) for p in entries)  # a bare YAML "no" would be False
    bad = []
    for phrase in entries:
        words = " ".join(w for w in phrase.split() if w != "*")
        if fold(words) != words:  # e.g. "bit" is teen code and folds to "biet"
            bad.append(phrase)
    assert not bad, f"not in folded form: {bad}"
    assert not [p for p in _all_phrases() if p.startswith("*") or p.endswith("*")]


def test_lexicon_loader_rejects_yaml_booleans(tmp_path: Path) -> None:
    text = (ROOT / "helpline" / "safety" / "lexicon.yml").read_text(encoding="utf-8")
    broken = tmp_path / "lexicon.yml"
    broken.write_text(text.replace('"no"', "no"), encoding="utf-8")
    with pytest.raises(ValueError, match="quote"):
        load_lexicon_data(broken)


def test_lexicon_structure() -> None:
    data = load_lexicon_data()
    levels = {lv.value for lv in RiskLevel}
    assert all(spec["level"] in levels for spec in data["signals"].values())
    for combo in data["combos"]:
        assert combo["level"] in levels and all(cue in data["cues"] for cue in combo["all"])
    for word_list in data["words"].values():
        assert all(len(w.split()) == 1 for w in word_list)


def test_eval_messages_are_not_copied_into_the_lexicon() -> None:
    phrases = set(_all_phrases())
    items = _load_eval_script().load_items()
    copied = [i["text"] for i in items if len(fold(i["text"]).split()) >= 4 and fold(i["text"]) in phrases]
    assert not copied


# --- the labelled evaluation set ----------------------------------------------------------


def test_eval_set_is_large_and_balanced() -> None:
    items = _load_eval_script().load_items()
    assert len(items) >= 220
    levels = {i["level"] for i in items}
    assert levels == {lv.value for lv in RiskLevel}
    not_accented = sum(i["style"] != "accented" for i in items)
    assert not_accented >= 0.4 * len(items)


def test_eval_set_meets_targets() -> None:
    module = _load_eval_script()
    summary = module.evaluate(module.load_items())
    assert summary.emergency_recall >= module.TARGET_EMERGENCY_RECALL, module.report(summary)
    assert summary.false_alarm_rate <= module.TARGET_FALSE_ALARM, module.report(summary)


def test_eval_script_exit_code(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "scripts/eval_safety.py", "--quiet"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout
    assert "emergency recall" in ok.stdout and "false alarm rate" in ok.stdout
    bad = tmp_path / "bad.yml"  # an emergency the detector cannot see: the script must fail
    bad.write_text(
        'version: 1\nitems:\n  - {text: "xin chao", level: immediate, style: unaccented}\n', encoding="utf-8"
    )
    failed = subprocess.run(
        [sys.executable, "scripts/eval_safety.py", "--set", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1


# --- issue 14: patterns added for the misses of the independent set (sentences written here) --


@pytest.mark.parametrize(
    "text",
    [
        # a minor gone with a stranger or an online contact (the age or the grade marks the child)
        "con trai minh 14 tuoi bo nha di theo mot dua quen qua game, 5 ngay roi khong lien lac duoc",
        "Con gái tôi học lớp 8, đi gặp một người quen trên Facebook từ thứ bảy, đến nay vẫn chưa về",
        "chau gai toi 16t quen a nao tren tiktok r bo di, dt tat may tu hom qua",
        "Em họ tôi mới 13 tuổi, bị một người lạ rủ lên xe, cả nhà tìm hai ngày nay không thấy",
        "Thằng bé nhà em 9 tuổi đi đá bóng rồi không thấy về, có người bảo thấy nó lên xe máy với người lạ",
        # days without contact
        "Bố tôi sang Lào làm thuê, đã ba tuần nay không gọi về, không ai biết ông ở đâu",
        "chi toi o malaysia, 10 ngay nay khong nghe may, facebook cung khong hoat dong",
        "Chị tôi đi Trung Quốc lấy chồng, hơn 2 tháng nay không có tin tức gì",
        # ransom demands
        "Có người gọi nói đang giữ chồng tôi, bắt chuyển 200 triệu, không chuyển thì đánh chết",
        "me oi co nguoi goi doi 50 trieu chuoc anh hai",
        "Vừa có người gọi bảo bắt được con tôi, chuyển 100 triệu trong hôm nay thì thả",
        # being sold or moved now
        "Chúng nó đang chuẩn bị bán em sang bên kia",
        "Em vừa bị người ta bán cho một nhà ở Hà Nam, họ đang canh em",
        "Chúng tôi đang bị chở lên xe tải đi đâu không biết",
        "toi bi dua len thuyen, ko bik di dau",
        # escaped but still abroad, hiding, hunted, unsafe
        "Tôi vừa trốn ra được, đang ở Campuchia, không có tiền, không có giấy tờ",
        "Họ đang tìm em, em đang nấp trong nhà dân",
        "Chúng nó cầm súng đứng ngoài cửa, em sợ lắm",
        "Tôi đang ở trong xe, họ khóa cửa, không cho tôi xuống",
        "tui dang dung tren cau, tui muon ket thuc",
    ],
)
def test_issue14_emergencies(text: str) -> None:
    risk = detect(text)
    assert risk.is_emergency, risk


@pytest.mark.parametrize(
    "text",
    [
        # headlines
        "Báo Tuổi Trẻ: triệt phá đường dây mua bán phụ nữ sang Trung Quốc",
        "Công an giải cứu 15 nạn nhân bị lừa bán sang Campuchia",
        # history: over, back home
        "Năm 2019 tôi bị bán sang Trung Quốc, giờ đã về quê, tôi có được trợ cấp không?",
        "Mẹ tôi bị bán sang Trung Quốc khi tôi còn nhỏ, giờ tôi muốn tìm mẹ",
        # where / why questions about others, statistics
        "Tại sao người bị giữ ở các khu lừa đảo không trốn được?",
        "Sao nhiều bạn trẻ bị dụ sang Campuchia vậy?",
        "Bao nhieu nguoi Viet bi mua ban moi nam?",
        "Bao nhiêu trẻ em mất tích mỗi năm ở Việt Nam?",
        # compensation, rights, procedure, general questions from families
        "Tôi bị lừa bán, giờ đã về, muốn kiện đòi bồi thường tổn thất thì làm thế nào?",
        "Khi có người thân mất liên lạc ở nước ngoài thì gia đình nên làm gì?",
        "Gia đình có người thân mất tích ở nước ngoài cần chuẩn bị giấy tờ gì để trình báo?",
        "Gọi số nào để cầu cứu khi bị giữ ở nước ngoài?",
        # talk about others: "tre em" is children in general, "phong chong" is prevention
        "Tôi muốn viết bài về các vụ bắt cóc trẻ em đòi tiền chuộc",
        "Có tài liệu nào dạy học sinh phòng chống bị lừa bán không?",
        "toi doc duoc tin nhieu tre em bi bat coc o mien nui",
    ],
)
def test_issue14_talk_about_danger_is_not_an_emergency(text: str) -> None:
    risk = detect(text)
    assert not risk.is_emergency, risk


def test_age_and_grade_mark_a_child_but_adults_do_not() -> None:
    assert detect("con bé 12t đi chơi với người quen qua mạng, từ hôm qua không về").level == URGENT
    assert detect("ban toi hoc lop 7 bo nha di, goi khong duoc").is_emergency
    adult = detect("anh ấy 25 tuổi đi chơi với bạn quen qua mạng rồi")
    assert not adult.is_emergency, adult


def test_a_duration_needs_no_contact_to_matter() -> None:
    assert detect("3 ngay nay em toi khong nghe may").is_emergency
    assert not detect("em lam o day 3 ngay roi, vui lam").is_emergency


def test_halves_split_even_and_odd_items() -> None:
    module = _load_eval_script()
    items = [{"n": n} for n in range(7)]
    assert [i["n"] for i in module.half(items, "tune")] == [0, 2, 4, 6]
    assert [i["n"] for i in module.half(items, "held")] == [1, 3, 5]
    assert module.half(items, "all") == items


def test_real_set_messages_are_not_copied_into_the_lexicon() -> None:
    module = _load_eval_script()
    phrases = set(_all_phrases())
    items = module.load_items(module.REAL_SET)
    assert len(items) >= 400 and all(i.get("category") for i in items)
    copied = [i["text"] for i in items if len(fold(i["text"]).split()) >= 4 and fold(i["text"]) in phrases]
    assert not copied


def test_fresh_set_and_training_sentences_stay_apart_from_the_detector() -> None:
    module = _load_eval_script()
    fresh = module.load_items(module.FRESH_SET)
    assert len(fresh) >= 400 and all(i.get("category") for i in fresh)
    phrases = set(_all_phrases())
    assert not [i["text"] for i in fresh if len(fold(i["text"]).split()) >= 4 and fold(i["text"]) in phrases]
    # the classifier's hand-written sentences are no evaluation item; the few NLU/handbook lines that
    # the independent sets also hold are greetings and FAQ titles ("xin chao", "ban chi dao 138 la gi"),
    # short and not emergencies on either side, so they cannot lift a recall figure
    import yaml

    from helpline.safety.classifier import OTHER, TRAINING_FILE, training_rows

    evaluated = {fold(i["text"]) for s in module.SETS if s.is_file() for i in module.load_items(s)}
    written = {fold(i["text"]) for i in yaml.safe_load(TRAINING_FILE.read_text(encoding="utf-8"))["items"]}
    assert not written & evaluated
    halved = (module.REAL_SET, module.FRESH_SET)
    independent = {fold(i["text"]): i["level"] for s in halved for i in module.load_items(s)}
    trained = dict((fold(t), lab) for t, lab in training_rows())
    shared = set(trained) & set(independent)
    assert all(len(t.split()) <= 6 and trained[t] == OTHER and independent[t] in ("none", "concern") for t in shared)


# --- second round (issue 14): sentences written here, in the shapes the misses showed -------


@pytest.mark.parametrize(
    "text",
    [
        "ho noi toi nay dem em qua song, em khong muon di",  # moved across now
        "mai ho chuyen toi sang khu khac, toi so lam",
        "minh tron duoc roi nhung dang ket o ben lao, khong co tien",  # stranded abroad
        "chu noi neu bo tron se cho nguoi thu tieu em",  # lethal threat
        "em bi ep cuoi, dam hoi la tuan sau, em khong muon",  # forced marriage
        "o day ai khong lam du so thi bi phat dung ca dem",  # quota punishment
        "ho dang dan toi qua duong rung sang ben kia",
        "chung em bi giu trong xuong, khong ai duoc di ra",
        "be nha toi lop 6 roi nha theo mot nguoi quen tren game",  # a child gone with an online contact
        "co nguoi la cho con toi di roi mat hut tu chieu",
        "chong toi sang lao 2 tuan nay khong on zalo",  # days without contact
        "bon no noi muon con ve thi gui 200 trieu",  # ransom
        "ho nhan neu gia dinh khong chuyen tien thi ban em toi sang cho khac",  # an ultimatum inside "neu"
        "ong chu dang cam gay danh chung toi",
        "giup em voi, em bi lua sang day roi",
    ],
)
def test_second_round_emergencies(text: str) -> None:
    risk = detect(text)
    assert risk.is_emergency, risk


@pytest.mark.parametrize(
    "text",
    [
        "hoi nho toi bi ban sang ben kia lam con nuoi, gio toi muon tim lai gia dinh",  # childhood, over
        "ke da ban toi truoc day vua ra tu",  # the past right after the phrase
        "con meo nha em mat tich 2 ngay roi",  # a pet
        "tim nguoi than mat tich o nuoc ngoai the nao",  # nobody in particular
        "bao mat tich co phai doi 24 gio khong",
        "ban em hay noi muon chet, em nen lam gi",  # a habit, reported
        "nguoi yeu em noi se dua em di ben kia lam an, em hoi lo",  # a plan
        "ban em moi ve tu cam, no ke bi danh nhieu lam",  # back home
        "Triệt phá đường dây đưa người sang Campuchia, hàng chục người được giải cứu",
        "tren bao co vu nguoi bo tim duoc con bi bat coc sau 20 nam",
        "tro choi nhap vai: nhan vat bi nhot trong ham",
        "chu khong tra luong 2 thang, toi co the kien o dau",  # a rights question
        "ban toi o campuchia van binh thuong, chi bi khong cho ve phep tet nay",
        "sao nguoi ta lai bi lua sang campuchia nhieu vay",
    ],
)
def test_second_round_talk_about_danger(text: str) -> None:
    risk = detect(text)
    assert not risk.is_emergency, risk


def test_since_last_year_is_still_going_on() -> None:
    assert detect("em bi giu o quan an tu nam ngoai, ho doa neu bo di se bat me em tra no").is_emergency
    assert not detect("nam ngoai em bi giu o quan an, gio em da ve nha").is_emergency


def test_detector_only_teen_code_expands_in_the_detector() -> None:
    assert detect("e dag bi nhot, ms bi chuyen qua cty khac").is_emergency
    assert fold("ms") == "ms"  # the shared fold (FAQ retrieval) keeps it


# --- the classifier: an extra signal, never the last word --------------------------------------


def test_the_classifier_adds_what_the_lexicon_has_no_phrase_for() -> None:
    from helpline.safety.classifier import loaded

    assert loaded() is not None, "run `make index` to build the safety classifier"
    risk = detect("ho bat chung em ngoi trong phong toi ca ngay, ai noi to la bi phat")
    assert risk.level == URGENT and any(r.startswith("classifier:") for r in risk.reasons), risk


@pytest.mark.parametrize(
    "text",
    [
        "tôi bị giảm giờ làm tuần này",  # the lexicon ruled "bi giam" out
        "ho dang den",  # too short for the classifier
        "Hàng trăm người bị giữ ở Myanmar, Bộ Ngoại giao lên tiếng",  # framed as news
        "dao nay co so la goi noi biet em toi o dau va doi tien, nhung em toi van o nha binh thuong",
    ],
)
def test_the_classifier_does_not_override_the_lexicon(text: str) -> None:
    risk = detect(text)
    assert not risk.is_emergency, risk
    assert not any(r.startswith("classifier:") for r in risk.reasons)


def test_without_a_built_classifier_the_lexicon_works_alone(tmp_path: Path, monkeypatch) -> None:
    from helpline.safety import classifier

    monkeypatch.setenv(classifier.MODEL_ENV, str(tmp_path))
    classifier.loaded.cache_clear()
    try:
        assert classifier.loaded() is None
        assert detect("ho bat chung em ngoi trong phong toi ca ngay, ai noi to la bi phat").level == NONE
        assert detect("cuu toi, toi bi nhot").level == IMMEDIATE
    finally:
        classifier.loaded.cache_clear()


def test_classifier_training_is_deterministic_and_scores_in_range(tmp_path: Path) -> None:
    from helpline.safety.classifier import SafetyClassifier, training_rows

    rows = training_rows()[::7]  # a slice keeps the test fast
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    a, b = SafetyClassifier.train(texts, labels), SafetyClassifier.train(texts, labels)
    a.save(tmp_path)
    c = SafetyClassifier.load(tmp_path)
    for text in ("cuu toi, toi bi nhot o campuchia", "luat moi co hieu luc khi nao"):
        assert a.probability(text) == b.probability(text) == pytest.approx(c.probability(text), abs=1e-6)
        assert 0.0 <= a.probability(text) <= 1.0
    assert a.probability("cuu toi, toi bi nhot o campuchia") > a.probability("luat moi co hieu luc khi nao")


@pytest.mark.parametrize(("text", "level"), [
    # An offer that says the passport will be kept is a warning sign to check, not a person held now.
    ("họ nói sẽ giữ hộ chiếu cho em, có nên đi không", RiskLevel.CONCERN),
    ("ho bao se giu ho chieu giup e cho an toan, co nen di ko", RiskLevel.CONCERN),
    # Kept now, or kept and not let go: still an emergency.
    ("ông chủ giữ hộ chiếu của em", RiskLevel.URGENT),
    ("chu doi giu ho chieu cua e r ko cho ve", RiskLevel.URGENT),
])
def test_a_passport_to_be_kept_is_an_offer_sign_one_kept_now_is_not(text: str, level: RiskLevel) -> None:
    assert detect(text).level is level
