// Diagrams of `cnnzoo draw` on a family page: a click on a block (a node of the SVG whose id is
// a key of the diagram's data-blocks) shows the drawing of its layers below the diagram, and a
// second click hides it. Nothing is fetched: every drawing is in the page, hidden until asked.
"use strict";

function showBlock(diagram, key, node) {
  for (const figure of diagram.querySelectorAll("figure.expanded")) {
    const open = figure.dataset.key === key && figure.hidden;
    figure.hidden = !open;
    if (open) figure.querySelector("figcaption").dataset.block = node.id;
  }
  for (const other of diagram.querySelectorAll("g.node.open")) other.classList.remove("open");
  const shown = diagram.querySelector("figure.expanded:not([hidden])");
  if (shown) {
    node.classList.add("open");
    shown.scrollIntoView({ block: "nearest" });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const diagram of document.querySelectorAll("div.diagram")) {
    const blocks = JSON.parse(diagram.dataset.blocks || "{}");
    for (const node of diagram.querySelectorAll(".diagram-svg g.node")) {
      const key = blocks[node.id];
      if (key === undefined) continue;
      node.classList.add("expandable");
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
      node.addEventListener("click", () => showBlock(diagram, key, node));
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          showBlock(diagram, key, node);
        }
      });
    }
  }
});
