"""End to end in a real headless Chromium: sign in with the token, upload the synthetic phantom, wait for the
result, and find the verdict and a loaded slice image in the viewer. Screenshots are left in /tmp."""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_studies import TOKEN, ctangel_command, free_port, serve

from ctangel.synthetic import make_phantom, write_phantom

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/ctangel-viewer.png")
LOGIN_SCREENSHOT = Path("/tmp/ctangel-login.png")
PHANTOM_SLICES = 8
RESULT_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def browser_path() -> Path:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium package to run the browser test")
    return CHROMIUM


@pytest.fixture(scope="module")
def phantom_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom")
    files = write_phantom(make_phantom(PHANTOM_SLICES, seed=0), root / "phantom")
    path = root / "phantom.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files.dicom_files:
            zf.write(f, f"phantom/{f.name}")
    shutil.rmtree(files.root)
    return path


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, tiny_models: tuple[Path, Path]) -> Iterator[str]:
    lung, lesion = tiny_models
    root = tmp_path_factory.mktemp("browser")
    port = free_port()
    args = [
        str(ctangel_command()), "serve", "--port", str(port), "--data-dir", str(root / "data"),
        "--lung-model", str(lung), "--lesion-model", str(lesion), "--backend", "torch", "--threads", "1",
    ]  # fmt: skip
    with serve(args, root / "serve.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_upload_and_view_in_a_browser(browser_path: Path, server_url: str, phantom_zip: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_path), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server_url)
            expect(page.locator("#login")).to_be_visible()
            page.fill("#token", "not-the-right-token")
            page.click("#login-form button[type=submit]")
            expect(page.locator("#login-error")).to_contain_text("wrong")
            page.screenshot(path=str(LOGIN_SCREENSHOT))
            page.fill("#token", TOKEN)
            page.click("#login-form button[type=submit]")
            expect(page.locator("#app")).to_be_visible()

            page.set_input_files("#file", str(phantom_zip))
            expect(page.locator("#result")).to_be_visible(timeout=RESULT_TIMEOUT_MS)
            verdict = page.locator(".patient .patient-head .verdict").first
            expect(verdict).to_have_text(re.compile(r"^(POSITIVE|negative)$"))
            expect(page.locator(".patient strong").first).to_have_text("CTANGEL-PHANTOM")
            page.wait_for_function("() => { const i = document.getElementById('slice-img'); "
                                   "return i.complete && i.naturalWidth === 512; }")  # fmt: skip
            assert "overlay=1" in (page.get_attribute("#slice-img", "src") or "")
            expect(page.locator("#slice-table tbody tr")).to_have_count(PHANTOM_SLICES)

            before = page.inner_text("#slice-caption")
            page.locator("#frame").focus()
            page.keyboard.press("End")
            expect(page.locator("#slice-caption")).to_contain_text(f"Slice {PHANTOM_SLICES} / {PHANTOM_SLICES}")
            assert page.inner_text("#slice-caption") != before
            page.keyboard.press("Home")
            expect(page.locator("#slice-caption")).to_contain_text(f"Slice 1 / {PHANTOM_SLICES}")
            page.keyboard.press("o")
            assert "overlay=0" in (page.get_attribute("#slice-img", "src") or "")
            page.keyboard.press("o")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowDown")
            expect(page.locator("#slice-caption")).to_contain_text(f"Slice 3 / {PHANTOM_SLICES}")
            page.wait_for_function("() => document.getElementById('slice-img').complete")
            expect(page.locator("#job-list .job")).to_have_count(1)
            expect(page.locator("#job-list .badge.done")).to_be_visible()
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            href = page.get_attribute("#dl-report", "href") or ""
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}
            report = httpx.get(server_url + href, cookies=cookies)
            assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
        finally:
            browser.close()
