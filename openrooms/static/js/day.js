// The day view draws each row's timeline and list of bookings from the busy intervals the
// server wrote on the row (data-busy: [{booking, start, end, title, mine, who}] in UTC, by
// start), with the page's settings on #day: the office's zone, where the timeline starts,
// the time now and one URL pattern each to book and cancel. Rows swapped in by htmx (after
// booking or cancelling) are drawn the same way.
const FIRST_HOUR = 7;
const QUARTERS = 52; // 07:00 to 20:00 in quarter hours: bookings/timeline.py's hours
const QUARTER_MS = 15 * 60 * 1000;

function clock(minutes) {
  return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

// Read once per #day (a filter change swaps in a new one), not once per row.
const pageSettings = new WeakMap();

function settingsOf(row) {
  const page = row.closest("#day");
  if (!pageSettings.has(page)) {
    const day = page.dataset;
    const zone = day.timezone;
    pageSettings.set(page, {
      first: Date.parse(day.first),
      now: Date.parse(day.now),
      bookUrl: day.bookUrl,
      cancelUrl: day.cancelUrl,
      day: day.date,
      csrfToken: day.csrfToken,
      time: new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      shortDate: new Intl.DateTimeFormat("en-GB", { timeZone: zone, day: "2-digit", month: "short" }),
      dayOf: new Intl.DateTimeFormat("en-CA", { timeZone: zone }),
    });
  }
  return pageSettings.get(page);
}

function column(settings, instant, roundingUp) {
  const quarters = (instant - settings.first) / QUARTER_MS;
  return Math.max(0, Math.min(QUARTERS, roundingUp ? Math.ceil(quarters) : Math.floor(quarters)));
}

function timeRange(settings, start, end) {
  const from = settings.time.format(start);
  const to = settings.time.format(end);
  if (settings.dayOf.format(start) === settings.dayOf.format(end)) return `${from}–${to}`;
  return `${settings.shortDate.format(start)} ${from}–${settings.shortDate.format(end)} ${to}`;
}

// The row's blocks, side by side over the 52 quarters: past, free gaps and bookings. A quarter
// is past once it has ended, as the booking rules see it; a booking shows over the past.
function blocksOf(settings, busy) {
  const past = settings.now > settings.first ? column(settings, settings.now, false) : 0;
  const blocks = [];
  let at = 0;
  const fillUntil = (to) => {
    if (at < Math.min(past, to)) blocks.push({ state: "past", first: at, last: (at = Math.min(past, to)) });
    if (at < to) blocks.push({ state: "free", first: at, last: (at = to) });
  };
  for (const item of busy) {
    const begins = Math.max(at, column(settings, item.startAt, false));
    const ends = column(settings, item.endAt, true);
    if (ends <= begins) continue; // outside 07:00-20:00, or inside a quarter already drawn
    fillUntil(begins);
    blocks.push({ state: item.mine ? "mine" : "busy", first: begins, last: ends, item });
    at = ends;
  }
  fillUntil(QUARTERS);
  return blocks;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function cancelForm(settings, row, item) {
  const url = settings.cancelUrl.replace("{id}", item.booking);
  const spaceName = row.querySelector(".space-name").textContent;
  return element(
    "form",
    { method: "post", action: url, "hx-post": url, "hx-target": `#${row.id}`, "hx-swap": "outerHTML",
      "hx-confirm": `Cancel your booking of ${spaceName} ${item.range}?` },
    element("input", { type: "hidden", name: "csrfmiddlewaretoken", value: settings.csrfToken }),
    element("input", { type: "hidden", name: "day", value: settings.day }),
    element("button", { type: "submit", class: "link-button" }, "Cancel",
            element("span", { class: "visually-hidden" }, ` booking ${item.range}`)),
  );
}

function draw(row) {
  const settings = settingsOf(row);
  const busy = JSON.parse(row.dataset.busy);
  for (const item of busy) {
    item.startAt = Date.parse(item.start);
    item.endAt = Date.parse(item.end);
    item.range = timeRange(settings, item.startAt, item.endAt);
  }
  const bookUrl = settings.bookUrl.replace("{id}", row.id.replace("space-", ""));
  const blocks = blocksOf(settings, busy).map((block) => {
    const span = `block ${block.state} span-${block.last - block.first}`;
    if (block.state === "free") {
      const start = clock(FIRST_HOUR * 60 + block.first * 15);
      return element("a", { class: span, tabindex: "-1", href: `${bookUrl}&start=${start}`, "data-start": start,
                            title: `Free ${start}–${clock(FIRST_HOUR * 60 + block.last * 15)}` });
    }
    const title = block.item ? [block.item.range, block.item.mine ? "You" : block.item.who, block.item.title] : [];
    return element("span", { class: span, title: title.filter(Boolean).join(" · ") });
  });
  row.querySelector(".timeline").replaceChildren(...blocks);
  row.querySelector(".busy-list:not(.conflicts)")?.remove();
  if (busy.length) {
    const items = busy.map((item) => element(
      "li", { class: item.mine ? "busy-item mine" : "busy-item" },
      element("span", { class: "busy-time" }, item.range),
      element("span", {}, [item.mine ? "You" : item.who || "Booked", item.title].filter(Boolean).join(" · ")),
      ...(item.mine ? [cancelForm(settings, row, item)] : []),
    ));
    const list = element("ul", { class: "busy-list" }, ...items);
    row.querySelector(".timeline").after(list);
    window.htmx?.process(list);
  }
  const book = row.querySelector(".book-button");
  if (book) book.hidden = !blocks.some((block) => block.classList.contains("free"));
}

const drawn = new WeakSet();

function drawNewRows() {
  for (const row of document.querySelectorAll("li.space-row[data-busy]")) {
    if (drawn.has(row)) continue;
    draw(row);
    drawn.add(row);
  }
}

// A free block is a link to the booking form from the block's start, which works without
// htmx; with it, the form opens inline at the quarter hour that was clicked.
function clickedTime(block, event) {
  const box = block.closest(".timeline").getBoundingClientRect();
  const quarter = Math.floor(((event.clientX - box.left) / box.width) * QUARTERS);
  const clicked = clock(FIRST_HOUR * 60 + Math.max(0, Math.min(QUARTERS - 1, quarter)) * 15);
  return clicked < block.dataset.start ? block.dataset.start : clicked;
}

document.addEventListener("click", (event) => {
  const block = event.target.closest(".timeline a.block.free");
  if (!block || !window.htmx || event.button !== 0 || event.metaKey || event.ctrlKey) return;
  event.preventDefault();
  const url = new URL(block.href);
  url.searchParams.set("start", clickedTime(block, event));
  const row = block.closest(".space-row");
  window.htmx.ajax("GET", url.pathname + url.search, { target: `#${row.id}`, swap: "outerHTML" });
});

drawNewRows();
// Once settled: while it settles, htmx gives a swapped-in row its predecessor's attributes.
document.addEventListener("htmx:afterSettle", drawNewRows);
