// Sortable tables without a framework: a click on a heading of a table.sortable orders its
// body's rows by that column, numerically by each cell's data-value when it has one, else by its
// text; a second click reverses the order. Rows without a value go last.
"use strict";

function cellKey(row, column) {
  const cell = row.cells[column];
  if (!cell) return { empty: true };
  const value = cell.dataset.value;
  if (value !== undefined) {
    return value === "" ? { empty: true } : { number: Number(value) };
  }
  const text = cell.textContent.trim();
  const number = Number(text.replace(/,/g, ""));
  return text === "" || text === "-" ? { empty: true }
    : Number.isFinite(number) ? { number } : { text };
}

function compareKeys(a, b) {
  if (a.empty || b.empty) return (a.empty ? 1 : 0) - (b.empty ? 1 : 0);
  if (a.number !== undefined && b.number !== undefined) return a.number - b.number;
  return String(a.text ?? a.number).localeCompare(String(b.text ?? b.number));
}

function sortBy(table, column, heading) {
  const body = table.tBodies[0];
  const descending = heading.getAttribute("aria-sort") === "ascending";
  const rows = Array.from(body.rows).map((row, index) => ({ row, index, key: cellKey(row, column) }));
  rows.sort((a, b) => {
    const order = compareKeys(a.key, b.key);
    const signed = a.key.empty || b.key.empty ? order : descending ? -order : order;
    return signed || a.index - b.index;
  });
  for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
  heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
  for (const { row } of rows) body.appendChild(row);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    if (!table.tHead || !table.tBodies.length) continue;
    Array.from(table.tHead.rows[0].cells).forEach((heading, column) => {
      heading.tabIndex = 0;
      heading.title = "sort by this column";
      heading.addEventListener("click", () => sortBy(table, column, heading));
      heading.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, column, heading);
        }
      });
    });
  }
});
