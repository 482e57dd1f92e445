"""Pure parts of the pages: the dictionary, downsampling windows, chart specs, helpers."""

from __future__ import annotations

import re
import string
from datetime import date
from pathlib import Path

import pytest

from api.web import charts
from api.web.charts import Band, Chart, Line, Series, pick_every, resolve_window
from api.web.i18n import EN, MESSAGES, ZH, Translator, normalise_lang
from api.web.render import fmt_cst, json_script
from api.web.session import csrf_token, safe_next
from storage.clock import DAY_MS, HOUR_MS, cst_midnight_ms

WEB = Path(__file__).resolve().parents[4] / "api" / "web"
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""")
PREFIX_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+[._])["']\s*~""")
FSTRING_CALL = re.compile(r"""\bt\(f["']([a-z0-9_.]+[._])\{""")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_message_has_both_languages_with_the_same_placeholders():
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert _fields(zh) == _fields(en), key


def test_every_key_used_by_templates_and_code_exists():
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("routes/*.py"),
               *(p for p in WEB.glob("*.py") if p.name != "i18n.py")]
    used, prefixes = set(), set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used |= set(KEY_CALL.findall(text))
        prefixes |= set(PREFIX_CALL.findall(text)) | set(FSTRING_CALL.findall(text))
    assert used, "no t('...') calls found"
    missing = sorted(k for k in used if k not in MESSAGES)
    assert not missing, missing
    for prefix in prefixes:  # t("state." ~ x): the family exists
        assert any(k.startswith(prefix) for k in MESSAGES), prefix


def test_templates_have_no_untranslated_text():
    """Visible text in templates comes from t(): no CJK or English words between tags."""
    between_tags = re.compile(r">([^<>]*)<")
    letters = re.compile(r"[A-Za-z\u4e00-\u9fff]+")
    symbols = {"CSV", "mm", "m", "mm/d", "V", "C", "min", "RAW", "TAW", "d"}  # units, acronyms
    for path in WEB.glob("templates/*.html"):
        text = re.sub(r"{#.*?#}|{{.*?}}|{%.*?%}", " ", path.read_text(encoding="utf-8"),
                      flags=re.S)
        text = re.sub(r"<script.*?</script>|&[a-z]+;", " ", text, flags=re.S)
        for m in between_tags.finditer(text):
            words = set(letters.findall(m.group(1)))
            assert words <= symbols, f"{path.name}: {m.group(1).strip()!r}"


def test_translator_formats_and_picks():
    zh, en = Translator(ZH), Translator(EN)
    assert zh("devices.summary", n=3, online=2) == "3 台设备，2 台在线"
    assert en("devices.summary", n=3, online=2) == "3 devices, 2 online"
    assert zh.pick("朔城区", "Shuocheng District") == "朔城区"
    assert en.pick("朔城区", "Shuocheng District") == "Shuocheng District"
    assert en.pick("只有中文", None) == "只有中文"
    assert zh.name_of("crop", "maize") == "玉米" and zh.name_of("crop", "quinoa") == "quinoa"
    assert zh.other == EN and en.other == ZH
    assert [normalise_lang(v) for v in ("zh", "zh-cn", "EN-us", "fr", None)] == \
        [ZH, ZH, EN, None, None]


@pytest.mark.parametrize("days", [1, 7, 30, 90, 365, 800])
def test_windows_keep_charts_under_500_points(days):
    span = days * 86_400
    every = pick_every(span)
    assert span / every <= charts.MAX_POINTS
    smaller = [s for s in charts.LADDER_S if s < every]
    assert not smaller or span / smaller[-1] > charts.MAX_POINTS  # the finest that fits


def test_resolve_window_defaults_and_end_day():
    now = cst_midnight_ms(date(2026, 11, 24)) + 10 * HOUR_MS  # 10:00 CST
    w = resolve_window(None, None, now)
    assert (w.key, w.end_ms, w.end_ms - w.start_ms) == ("7d", now, 7 * DAY_MS)
    assert not w.explicit_end and w.every_s == 1800
    w = resolve_window("30d", "2026-07-17", now)
    assert w.end_ms == cst_midnight_ms(date(2026, 7, 18)) and w.explicit_end
    assert w.end_day == date(2026, 7, 17) and w.every_s == 7200
    assert resolve_window("5y", "not-a-date", now).key == "7d"
    assert resolve_window("1d", "2099-01-01", now).end_ms == now  # never past now


def test_chart_spec_aligns_series_and_summarises():
    c = charts.chart("c", "title", "%", [
        (Series("a", []), {1000: 1.0, 2000: 2.0}),
        (Series("b", [], kind="bar", axis=1), {2000: 5.0, 3000: 7.123456}),
    ], unit2="mm", lines=[Line("limit", 1.5)], bands=[Band("x", None, 2.0, 0)])
    spec = c.spec()
    assert spec["x"] == [1, 2, 3]
    assert spec["series"][0]["values"] == [1.0, 2.0, None]
    assert spec["series"][1]["values"] == [None, 5.0, 7.123]
    assert spec["lines"] == [{"label": "limit", "value": 1.5, "axis": 0}]  # no short form
    rows = c.summary()
    assert (rows[1].unit, rows[1].latest, rows[1].points) == ("mm", 7.123456, 2)
    assert c.has_data and not Chart("e", "t", "", [], [Series("s", [])]).has_data


def test_helpers():
    assert fmt_cst(0) == "1970-01-01 08:00" and fmt_cst(None) == "—"
    assert str(json_script({"a": "</script><b>&"})) == '{"a":"\\u003c/script\\u003e\\u003cb\\u003e\\u0026"}'
    assert safe_next("/web", "/web/alerts?x=1") == "/web/alerts?x=1"
    for bad in ("//evil.example/web/", "https://evil.example/", "/api/v1/tokens", "", None,
                "/web/\\evil"):
        assert safe_next("/web", bad) == "/web/"
    assert csrf_token("a") != csrf_token("b") and len(csrf_token("a")) == 40
