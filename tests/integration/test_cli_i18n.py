"""The CLI in Chinese and English (issue 20): po/zh_CN.po translates every message the CLI
marks (xgettext over client-cli/*.c finds no msgid without a Chinese msgstr), the language
comes from --lang or LANGUAGE / LC_ALL / LC_MESSAGES / LANG, `--lang zh_CN` speaks Chinese
even where the zh_CN.UTF-8 locale is not generated (this machine's case is checked, not
assumed), table headers and errors follow it, and the server's own messages stay English."""
import ast
import os
import re
import shutil
import subprocess
import tempfile


from harness import paths

PO = os.path.join(paths.SOURCE_DIR, "po", "zh_CN.po")
HAN = re.compile(r"[\u4e00-\u9fff]")


def parse_po(text):
    """{msgid: (msgstrs, fuzzy)} of a .po file (obsolete #~ entries left out)."""
    out = {}
    for block in text.split("\n\n"):
        lines = [l for l in block.strip().split("\n") if l and not l.startswith("#~")]
        fuzzy = any(l.startswith("#,") and "fuzzy" in l for l in lines)
        key, cur, msgid, strs = None, [], None, []
        for l in lines + ["end"]:
            m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) (".*")$', l)
            if m or l == "end":
                if key == "msgid":
                    msgid = "".join(cur)
                elif key and key.startswith("msgstr"):
                    strs.append("".join(cur))
                if m:
                    key, cur = m.group(1), [ast.literal_eval(m.group(2))]
            elif l.startswith('"'):
                cur.append(ast.literal_eval(l))
        if msgid is not None:
            out[msgid] = (strs, fuzzy)
    return out


def test_every_cli_message_has_its_chinese():
    xgettext = shutil.which("xgettext")
    assert xgettext, "xgettext (Debian gettext) is required"
    with tempfile.TemporaryDirectory() as d:
        pot = os.path.join(d, "gridstock.pot")
        src = sorted(os.path.join("client-cli", f) for f in os.listdir(os.path.join(paths.SOURCE_DIR, "client-cli"))
                     if f.endswith(".c"))
        subprocess.run([xgettext, "--language=C", "--from-code=UTF-8", "--keyword=_", "--keyword=N_",
                        "--keyword=ngettext:1,2", "-o", pot] + src, cwd=paths.SOURCE_DIR, check=True)
        wanted = parse_po(open(pot, encoding="utf-8").read())
    have = parse_po(open(PO, encoding="utf-8").read())
    wanted.pop("", None)
    assert len(wanted) > 150, "xgettext found too few messages: are they still marked with _()?"
    untranslated = sorted(m for m in wanted if m not in have or have[m][1] or not all(have[m][0]))
    assert not untranslated, "po/zh_CN.po lacks (or has fuzzy) %d: %r (run scripts/update-po)" % (
        len(untranslated), untranslated[:10])
    # translations are Chinese, not copies of the English (headers, sentences)
    copies = [m for m in wanted if HAN.search(m) is None and re.search(r"[A-Za-z]{3}", m)
              and not HAN.search("".join(have[m][0]))
              and not m.startswith("usage: gridstock import")]
    assert not copies, copies
    # placeholders survive translation (msgfmt --check compares c-format directives)
    p = subprocess.run(["msgfmt", "--check", "-o", os.devnull, PO], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_the_catalog_is_built_next_to_the_binary():
    mo = os.path.join(paths.BUILD_DIR, "locale", "zh_CN", "LC_MESSAGES", "gridstock.mo")
    assert os.path.getsize(mo) > 1000
    assert os.path.getmtime(mo) >= os.path.getmtime(PO)


# LOCPATH at an empty directory: glibc finds no generated locale at all (only its built-in
# C.UTF-8), whatever this machine has, so the fallback is what is tested.
NO_LOCALES = {"LOCPATH": "/nonexistent/gridstock-no-locales"}


def test_lang_flag_and_locale_variables(cli):
    for env in ({}, {"LANG": "C"}, {"LC_ALL": "C"}, NO_LOCALES):
        rc, out, _ = cli("--lang", "zh_CN", "help", env=env)
        assert rc == 0 and "用法：gridstock" in out and "退出码" in out, (env, out[:200])
    rc, out, _ = cli("--lang=zh_CN.UTF-8", "help")
    assert rc == 0 and "用法" in out
    # the usual variables, in their usual order; English when none asks for Chinese
    for env in ({"LANG": "zh_CN.UTF-8"}, {"LC_MESSAGES": "zh_CN.UTF-8"}, {"LC_ALL": "zh_CN.UTF-8"},
                {"LANGUAGE": "zh_CN", "LANG": "zh_CN.UTF-8"}, {"LANGUAGE": "zh_CN"},
                {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}):
        for extra in ({}, NO_LOCALES):
            rc, out, _ = cli("help", env=dict(env, **extra))
            assert rc == 0 and "用法" in out, (env, extra)
    for env in ({}, {"LANG": "en_US.UTF-8"}, {"LANG": "zh_CN.UTF-8", "LC_ALL": "C"},
                {"LANG": "zh_CN.UTF-8", "LANGUAGE": "en"}):
        rc, out, _ = cli("help", env=env)
        assert rc == 0 and "usage: gridstock" in out and not HAN.search(out), env
    # --lang wins over the variables
    rc, out, _ = cli("--lang", "en", "help", env={"LANG": "zh_CN.UTF-8", "LANGUAGE": "zh_CN"})
    assert "usage: gridstock" in out and not HAN.search(out)
    rc, out, _ = cli("help", "--lang", "zh_CN")  # after the command, too
    assert "用法" in out


def test_errors_headers_and_help_in_chinese(cli):
    rc, out, err = cli("--lang", "zh_CN", "nosuch")
    assert rc == 1 and err.startswith("gridstock: 未知服务“nosuch”"), err
    rc, out, err = cli("--lang", "zh_CN", "site", "list", "--timeout", "x", login="admin")
    assert rc == 1 and "不是秒数" in err
    rc, out, err = cli("--lang", "zh_CN", "site", "list", "--page-size", "5", login="admin")
    assert rc == 0, err
    header = out.splitlines()[0].split()
    assert header[:3] == ["编码", "名称", "类型"], header
    rc, out, err = cli("--lang", "zh_CN", "site", "create", "--help")
    assert rc == 0 and "请求字段" in out and "--code" in out
    rc, out, err = cli("--lang", "zh_CN", "stock")
    assert "的方法" in out and "（流）" in out
    rc, out, err = cli("--lang", "zh_CN", "help")
    assert re.search(r"site\s+gridstock\.v1\.SiteService \(\d+ 个方法\)", out), out


def test_server_messages_stay_english(cli, server):
    rc, out, err = cli("--lang", "zh_CN", "site", "get", "--id", "999999", login="admin")
    assert rc == 3 and "NOT_FOUND" in err and "999999" in err
    detail = err.split("NOT_FOUND:", 1)[1]
    assert not HAN.search(detail), err  # the server's sentence, in English
    assert not HAN.search(server.log())


def test_json_and_csv_do_not_change_with_the_language(cli):
    args = ("org-unit", "list", "--kind", "street", "--page-size", "5")
    for fmt in ("--json", "--csv"):
        rc1, en, _ = cli(fmt, *args, login="admin")
        rc2, zh, _ = cli("--lang", "zh_CN", fmt, *args, login="admin")
        assert rc1 == rc2 == 0 and en == zh


def test_installed_layout_has_the_catalog_where_the_binary_looks(tmp_path):
    """`cmake --install` puts gridstock.mo under <prefix>/share/locale, the directory the
    installed binary was built to read (no build tree next to it)."""
    cache = open(os.path.join(paths.BUILD_DIR, "CMakeCache.txt")).read()
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    env = dict(os.environ, DESTDIR=str(tmp_path))
    subprocess.run(["cmake", "--install", paths.BUILD_DIR], env=env, check=True, capture_output=True)
    root = str(tmp_path) + prefix
    mo = os.path.join(root, "share", "locale", "zh_CN", "LC_MESSAGES", "gridstock.mo")
    assert os.path.getsize(mo) > 1000
    binary = open(os.path.join(root, "bin", "gridstock"), "rb").read()
    assert (os.path.join(prefix, "share", "locale") + "\0").encode() in binary
    # the installed binary, pointed at the staged tree, speaks Chinese; without a catalog, English
    e = dict(os.environ, GRIDSTOCK_LOCALEDIR=os.path.join(root, "share", "locale"))
    out = subprocess.run([os.path.join(root, "bin", "gridstock"), "--lang", "zh_CN", "help"], env=e,
                         capture_output=True, text=True).stdout
    assert "用法" in out
    e["GRIDSTOCK_LOCALEDIR"] = str(tmp_path / "nowhere")
    out = subprocess.run([os.path.join(root, "bin", "gridstock"), "--lang", "zh_CN", "help"], env=e,
                         capture_output=True, text=True).stdout
    assert out.startswith("usage: gridstock")
