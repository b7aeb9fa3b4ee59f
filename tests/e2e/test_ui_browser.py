"""What a user sees after the embedded job, in a real browser: `dagster dev` and `mlflow ui` on
loopback over the job's state, driven by headless Chromium (Debian's package, through Playwright;
Playwright's own browser download needs open internet access). Screenshots of every page go to
test-artifacts/ui/, with the servers' logs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from viss_r1.evaluate.benchmarks import BENCHMARKS

from .embedded_job import UI_ARTIFACTS, EmbeddedJob
from .ui_servers import dagster_dev, mlflow_ui, server_env

CHROMIUM = Path(os.environ.get("VISS_R1_CHROMIUM", "/usr/bin/chromium"))
# Without these, Chromium's background connections are refused by a closed network and its
# start-up stalls; a fresh profile per session keeps one run's UI state out of the next.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Tall, so that the whole expanded asset graph fits with its node labels rendered.
VIEWPORT = {"width": 1920, "height": 2400}
JOB = "full_viss_r1"
LOCATION = "pipelines"                 # workspace.yaml's python_module
ARMS = ("base_model", "viss_r1_model")  # what the leaderboard and the compare view line up
EMBEDDED_BENCHMARK = BENCHMARKS["synthetic"]  # the one benchmark the embedded default scores
# every eval/<model>/<benchmark> run
EVAL_RUN_METRICS = ("score/overall", "score/blind", "score/no_video", "visual_reliance", "format/clean", "format/blind")


@dataclass(frozen=True)
class Servers:
    dagster: str
    mlflow: str


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """This run's screenshots and server logs only."""
    shutil.rmtree(UI_ARTIFACTS, ignore_errors=True)
    UI_ARTIFACTS.mkdir(parents=True)
    return UI_ARTIFACTS


@pytest.fixture(scope="module")
def servers(embedded_job: EmbeddedJob, artifacts: Path) -> Iterator[Servers]:
    env = server_env(embedded_job.state, embedded_job.dagster_home, embedded_job.env)
    logs = artifacts / "logs"
    with dagster_dev(env, logs) as dagster, mlflow_ui(env, embedded_job.state, logs) as mlflow:
        yield Servers(dagster, mlflow)


@pytest.fixture(scope="module")
def browser(artifacts: Path, tmp_path_factory: pytest.TempPathFactory):
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's package "
                    "(scripts/ensure_browser.sh), or run `apt-get install chromium`; "
                    "VISS_R1_CHROMIUM names another binary")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        yield context
        context.close()


def open_page(browser):
    page = browser.new_page()
    page.add_locator_handler(welcome_dialog(page), skip_welcome)
    return page


def welcome_dialog(page):
    """On loopback a fresh Dagster instance greets its first visitor, a second after the page
    loads, with a newsletter dialog over the page; a user would skip it."""
    return page.get_by_role("dialog").filter(has_text="Join the Dagster community")


def skip_welcome(dialog) -> None:
    dialog.get_by_role("button", name="Skip").click()


def goto_dagster(page, url: str) -> None:
    page.goto(url)
    dialog = welcome_dialog(page)
    with contextlib.suppress(PlaywrightTimeout):
        dialog.wait_for(timeout=3000)
        skip_welcome(dialog)
        dialog.wait_for(state="hidden")


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    page = open_page(browser)
    yield page
    if getattr(request.node, "failed_call", False):   # set by tests/e2e/conftest.py
        screenshot(page, f"{request.node.name}.failed")
    page.close()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/ui/ (listed at the end of the session)."""
    path = UI_ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


# --- Dagster ------------------------------------------------------------------------------------

# Dagster draws node text only at a zoom of 0.15 and above; aim well over it.
LABEL_ZOOM = 0.2
GRAPH_SVG = "svg[class*=AssetGraphExplorer_svgContainer]"
GRAPH_VIEWPORT = f'div[tabindex="-1"]:has(> div > {GRAPH_SVG})'
NODE_LABEL = '[class*="AssetNode_assetName"]'


def job_asset_keys() -> list:
    """Every asset of the job, from the Definitions: its selection resolved on the asset graph."""
    from pipelines import defs

    (job,) = [j for j in defs.jobs if j.name == JOB]
    return sorted(job.selection.resolve(defs.resolve_asset_graph()), key=lambda k: k.path)


def label_shows(label: str, name: str) -> bool:
    """A node is labelled with the last part of its key, cut in the middle with '…' when long."""
    if "…" not in label:
        return label == name
    head, tail = label.split("…", 1)
    return len(name) > len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


def unmatched(names: list[str], labels: list[str]) -> list[str]:
    """The names no distinct label accounts for (several eval assets share a last part)."""
    left, missing = list(labels), []
    for name in names:
        found = next((l for l in left if l == name), None) or next((l for l in left if label_shows(l, name)), None)
        if found is None:
            missing.append(name)
        else:
            left.remove(found)
    return missing


def expand_all_groups(page) -> None:
    """Groups start collapsed; the graph's settings menu expands them all (the menu offers it only
    when there are several groups)."""
    menu = page.get_by_role("menu")
    for _ in range(3):   # a dialog opening over the menu closes it: open it again
        page.locator("[aria-haspopup=dialog] > button:has([aria-label=settings])").click()
        menu.wait_for()
        expand = menu.get_by_role("menuitem", name=re.compile("Expand all groups"))
        with contextlib.suppress(PlaywrightTimeout):
            if expand.count():
                expand.click(timeout=5000)
            page.keyboard.press("Escape")
            menu.wait_for(state="hidden", timeout=5000)
            return
    raise AssertionError("could not expand the asset graph's groups")


def fit_graph(page) -> None:
    """Grow the window until the whole graph fits at a zoom that shows labels, then zoom to fit
    (what a double click on the background does)."""
    svg, viewport = page.locator(GRAPH_SVG), page.locator(GRAPH_VIEWPORT)
    width, height = (float(svg.get_attribute(a)) for a in ("width", "height"))
    box = viewport.bounding_box()
    grow_w, grow_h = LABEL_ZOOM * width / box["width"], LABEL_ZOOM * height / box["height"]
    if max(grow_w, grow_h) > 1:
        size = page.viewport_size
        # The graph gets about half of any extra width (the info panel takes the rest).
        page.set_viewport_size({"width": size["width"] + math.ceil(2 * box["width"] * max(grow_w - 1, 0)),
                                "height": size["height"] + math.ceil(box["height"] * max(grow_h - 1, 0))})
    viewport.dispatch_event("dblclick")
    last, deadline = None, time.monotonic() + 10
    while time.monotonic() < deadline:   # the zoom is animated: wait until it settles
        now = svg.bounding_box()
        if now == last:
            break
        last = now
        page.wait_for_timeout(250)


@pytest.mark.slow
def test_dagster_asset_graph_shows_every_stage_of_the_job(servers: Servers, page):
    keys = job_asset_keys()
    names = [key.path[-1] for key in keys]
    goto_dagster(page, f"{servers.dagster}/locations/{LOCATION}/jobs/{JOB}")
    page.locator(f"{GRAPH_SVG} foreignObject").first.wait_for()
    expand_all_groups(page)
    fit_graph(page)
    deadline = time.monotonic() + 30
    while missing := unmatched(names, page.locator(NODE_LABEL).all_inner_texts()):
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    screenshot(page, "dagster-asset-graph")
    labels = page.locator(NODE_LABEL).all_inner_texts()
    assert not missing, (f"the {JOB} graph does not show {missing} (of {len(keys)} assets: "
                         f"{[k.to_user_string() for k in keys]}); node labels shown: {sorted(labels)}")
    assert len(labels) == len(keys), f"{len(labels)} nodes drawn for {len(keys)} assets: {sorted(labels)}"


def evaluated_benchmarks() -> list:
    """The benchmarks the job scores models on: its ``eval/<model>/<benchmark>`` assets."""
    names = {key.path[2] for key in job_asset_keys() if key.path[0] == "eval" and len(key.path) == 3}
    assert names, f"the {JOB} job has no eval/<model>/<benchmark> assets"
    return [spec for name, spec in BENCHMARKS.items() if name in names]


def metadata_table(page, base: str, asset: str, entry: str, shot: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header, rows by first cell) of the table that Dagster renders for the table metadata entry
    ``entry`` of the asset's latest materialization, on the asset's overview page."""
    url = f"{base}/assets/{asset}"
    goto_dagster(page, url)
    key_cell = page.locator("td:first-child").filter(has_text=re.compile(rf"^\s*{re.escape(entry)}\s*$"))
    table = page.locator("tr").filter(has=key_cell).locator("table").first
    try:
        table.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        raise AssertionError(f"{url} shows no table for the metadata entry {entry!r} of the asset's "
                             "latest materialization") from None
    table.scroll_into_view_if_needed()
    screenshot(page, shot)
    header = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = {cells[0]: cells for cells in
            ([c.strip() for c in row.locator("td").all_inner_texts()] for row in table.locator("tbody tr").all())}
    return header, rows


@pytest.mark.slow
def test_dagster_leaderboard_renders_as_a_table_in_its_metadata(servers: Servers, page):
    header, rows = metadata_table(page, servers.dagster, "leaderboard", "leaderboard", "dagster-leaderboard")
    titles = [spec.title for spec in evaluated_benchmarks()]
    assert header[0] == "model" and set(titles) <= set(header), (header, titles)
    assert set(ARMS) <= set(rows), f"leaderboard rows {list(rows)} lack one of {ARMS}"
    column = header.index(EMBEDDED_BENCHMARK.title)
    for arm in ARMS:
        assert re.fullmatch(r"\d+(\.\d+)?", rows[arm][column]), (arm, header, rows[arm])


@pytest.mark.slow
def test_dagster_shows_the_frame_cache_check_passed_and_blocking(servers: Servers, page):
    goto_dagster(page, f"{servers.dagster}/assets/frame_cache?view=checks")
    result = page.get_by_text("Evaluation result").locator("xpath=following-sibling::*[1]")
    try:
        page.get_by_text("This is a blocking asset check.").wait_for(timeout=30_000)
        result.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        screenshot(page, "dagster-frame-cache-check")
        raise AssertionError("the frame_cache checks page shows no blocking check with its result") from None
    screenshot(page, "dagster-frame-cache-check")
    assert page.get_by_text("frame_count_matches_sampling").count() >= 1
    assert result.inner_text().strip() == "Passed", result.inner_text()


# --- MLflow -------------------------------------------------------------------------------------

def mlflow_api(base: str, endpoint: str, body: dict | None = None) -> dict:
    url = f"{base}/api/2.0/mlflow/{endpoint}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def experiment_name() -> str:
    from pipelines import defs

    return f"{defs.resources['mlflow_tracking'].experiment_prefix}/{JOB}"


@pytest.mark.slow
def test_mlflow_compare_view_lists_the_arms_with_their_benchmark_metrics(servers: Servers, page):
    name = experiment_name()
    experiment_id = mlflow_api(servers.mlflow, "experiments/get-by-name?experiment_name="
                               + urllib.parse.quote(name))["experiment"]["experiment_id"]
    runs = newest_runs(servers.mlflow, experiment_id, "eval/%", "score/overall")
    wanted = [f"eval/{arm}/{EMBEDDED_BENCHMARK.name}" for arm in ARMS]
    assert set(wanted) <= set(runs), f"scored eval runs in {name}: {sorted(runs)}; want {wanted}"

    shown, metrics, scores = compare_in_ui(page, servers.mlflow, experiment_id, runs, "eval/%", "score/overall")
    assert sorted(shown) == sorted(runs), f"the compare view lists {shown}, selected {sorted(runs)}"
    assert set(EVAL_RUN_METRICS) <= set(metrics), f"the compare view's metrics: {metrics}"
    assert len(scores) == len(runs) and all(re.fullmatch(NUMBER, v) for v in scores), scores


NUMBER = r"-?\d+(\.\d+)?(e-?\d+)?"


def newest_runs(base: str, experiment_id: str, name_like: str, metric: str) -> dict[str, dict]:
    """run name → the newest run of that name (``LIKE`` pattern) that logged ``metric``."""
    found = mlflow_api(base, "runs/search", {
        "experiment_ids": [experiment_id], "filter": f"attributes.run_name LIKE '{name_like}'",
        "order_by": ["attributes.start_time DESC"], "max_results": 1000}).get("runs", [])
    runs = {}
    for run in found:
        if metric in {m["key"] for m in run["data"].get("metrics", [])}:
            runs.setdefault(run["info"]["run_name"], run)
    return runs


def compare_in_ui(page, base: str, experiment_id: str, runs: dict[str, dict], name_like: str,
                  metric: str) -> tuple[list[str], list[str], list[str]]:
    """The user's way: filter the experiment's runs by name, open the parents of the nested runs,
    tick them, press Compare. Returns the run names, the metric names and ``metric``'s values
    that the compare view shows."""
    search = urllib.parse.quote(f"attributes.run_name LIKE '{name_like}'")
    page.goto(f"{base}/#/experiments/{experiment_id}/runs?searchFilter={search}")
    page.locator("[role=row][row-id]").first.wait_for()   # nested runs start folded under their parent
    for run in runs.values():
        row = page.locator(f'[role=row][row-id="{run["info"]["run_id"]}"]')
        if not row.count():
            parent = next(t["value"] for t in run["data"]["tags"] if t["key"] == "mlflow.parentRunId")
            page.locator(f'[role=row][row-id="{parent}"] button[data-component-id*="runnamecellrenderer"]').click()
        row.locator("input.ag-checkbox-input").check()
    screenshot(page, "mlflow-selected-runs")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_url(re.compile(r"compare-runs"))
    names_row = page.locator("tr").filter(has=page.locator("th", has_text="Run Name:"))
    names_row.wait_for()
    page.locator('a[title="Plot chart"]').first.wait_for()
    table = page.evaluate(METRIC_GRID_JS, metric)
    screenshot(page, "mlflow-compare")
    shown = [n.strip() for n in names_row.locator("td").all_inner_texts()]
    return shown, list(table), table.get(metric, [])


# The compare view's metrics are two virtualised grids of absolutely placed cells (names on the
# left; values on the right, which scrolls both): scroll the values through, read each row's
# cells by their common offset, and leave ``metric``'s row in view for the screenshot.
METRIC_GRID_JS = """async (metric) => {
    const grids = [...document.querySelectorAll('.ReactVirtualized__Grid')];
    const names = grids.find(g => g.querySelector('a[title="Plot chart"]'));
    const values = grids[grids.indexOf(names) + 1];
    const cells = (grid) => [...grid.querySelectorAll('div[style*="position: absolute"]')];
    const table = {}, rowTop = {};
    for (let top = 0; ; top += values.clientHeight / 2) {
        values.scrollTop = top;
        await new Promise(done => setTimeout(done, 250));
        for (const cell of cells(names)) {
            const name = cell.innerText.trim();
            rowTop[name] = cell.offsetTop;
            const found = cells(values).filter(v => v.offsetTop === cell.offsetTop).map(v => v.innerText.trim());
            if (found.length || !(name in table)) table[name] = found;   // a row scrolled away keeps what it showed
        }
        if (top >= values.scrollHeight - values.clientHeight) break;
    }
    if (metric in rowTop) {
        values.scrollTop = Math.max(0, rowTop[metric] - values.clientHeight / 2);
        await new Promise(done => setTimeout(done, 250));
    }
    return table;
}"""
