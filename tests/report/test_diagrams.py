"""The family pages' diagrams (``cnnzoo draw``'s, inline SVG): they load in headless Chromium
without console errors, and a click on a block shows the drawing of its layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.report.browser import load_page, open_browser
from cnnzoo.report.site import ReportConfig, build_report


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("diagram-site")
    return build_report(ReportConfig(out=str(out), models=("resnet18", "googlenet", "vgg11")))


def test_family_pages_show_each_models_diagram(site):
    resnet = (Path(site["out"]) / "resnet.html").read_text()
    assert resnet.count('<div class="diagram"') == 1
    assert 'id="resnet18/layer2.0"' in resnet  # the block's node, named by its module path
    assert "stroke-dasharray" in resnet  # its shortcuts, dashed
    assert "<?xml" not in resnet and 'src="http' not in resnet  # inline, nothing fetched
    vgg = (Path(site["out"]) / "vgg.html").read_text()
    assert 'id="vgg11/features.0"' in vgg


def test_a_click_on_a_block_shows_its_layers(site):
    from selenium.webdriver.common.by import By

    with open_browser() as session:
        for page in ("resnet.html", "googlenet.html", "vgg.html"):
            load = load_page(session, Path(site["out"]) / page)
            assert load.console == (), f"{page}: {load.console}"
        load_page(session, Path(site["out"]) / "googlenet.html")
        session.execute_script("document.querySelector('details.diagram-box').open = true")
        hidden = "return Array.from(document.querySelectorAll('figure.expanded'))" + (
            ".filter(f => !f.hidden).map(f => f.dataset.key)"
        )
        assert session.execute_script(hidden) == []
        node = session.find_element(By.ID, "googlenet/inception3a")
        assert "expandable" in node.get_attribute("class")
        centre = "arguments[0].scrollIntoView({block: 'center'})"
        session.execute_script(centre, node)
        node.click()
        assert session.execute_script(hidden) == ["googlenet~inception3a"]
        figure = session.find_element(By.CSS_SELECTOR, "figure.expanded:not([hidden])")
        layers = figure.find_elements(By.CSS_SELECTOR, "g.node")
        assert len(layers) >= 8  # the four branches' layers and the concat
        assert "inception3a.cat#0" in figure.text
        session.execute_script(centre, node)
        node.click()  # a second click hides it
        assert session.execute_script(hidden) == []
        problems = [e for e in session.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert problems == []
