// downwatch pages: the small script that makes the server-rendered pages live.
//
// - times (and chart/download links) in the viewer's time zone;
// - the board's search and filters, instantly;
// - the "I have a problem" button: posts to /v1/reports with a reporter token kept in local
//   storage, and says what happened (counted, already counted, slow down, error);
// - live updates: follows /v1/events and refreshes the page's live regions in place.
//
// Every page reads fully without it.
(function () {
  'use strict';

  var root = document.documentElement;
  root.classList.add('js');

  // ---- Time zone -------------------------------------------------------------------------

  function viewerZone() {
    if (root.hasAttribute('data-tz-fixed')) return root.getAttribute('data-tz');
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (e) {
      return 'UTC';
    }
  }

  var zone = viewerZone();
  var formats = {};

  function formatter(kind) {
    if (!formats[kind]) {
      var options = { hour: 'numeric', minute: '2-digit', timeZoneName: 'short', timeZone: zone };
      if (kind === 'datetime') {
        options.year = 'numeric';
        options.month = 'short';
        options.day = 'numeric';
      }
      try {
        formats[kind] = new Intl.DateTimeFormat(undefined, options);
      } catch (e) {
        delete options.timeZone;
        formats[kind] = new Intl.DateTimeFormat(undefined, options);
      }
    }
    return formats[kind];
  }

  function withZone(url) {
    var u = new URL(url, location.href);
    u.searchParams.set('tz', zone);
    return u.pathname + u.search + u.hash;
  }

  function localize(scope) {
    scope.querySelectorAll('time[datetime][data-format]').forEach(function (el) {
      var t = new Date(el.getAttribute('datetime'));
      if (!isNaN(t)) el.textContent = formatter(el.getAttribute('data-format')).format(t);
    });
    if (zone === root.getAttribute('data-tz')) return;
    scope.querySelectorAll('img[data-tz-src]').forEach(function (el) {
      el.src = withZone(el.getAttribute('src'));
    });
    scope.querySelectorAll('a[data-tz-href]').forEach(function (el) {
      el.href = withZone(el.getAttribute('href'));
    });
  }

  // ---- Board filter ----------------------------------------------------------------------

  var filterForm = document.getElementById('filter');

  function applyFilter() {
    if (!filterForm) return;
    var q = filterForm.elements.q.value.trim().toLowerCase();
    var category = filterForm.elements.category.value;
    var level = filterForm.elements.level.value;
    var cards = document.querySelectorAll('#grid > li');
    var shown = 0;
    cards.forEach(function (card) {
      var ok = (!q || card.getAttribute('data-search').indexOf(q) !== -1) &&
        (!category || card.getAttribute('data-category') === category) &&
        (!level || (level === 'problems' ? card.getAttribute('data-level') !== 'normal'
          : card.getAttribute('data-level') === level));
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    var count = document.getElementById('grid-count');
    if (count) count.textContent = shown + ' of ' + cards.length + ' services';
  }

  if (filterForm) {
    filterForm.addEventListener('input', applyFilter);
    filterForm.addEventListener('change', applyFilter);
    filterForm.addEventListener('submit', function (event) {
      event.preventDefault();
      applyFilter();
    });
  }

  // ---- Live regions ----------------------------------------------------------------------

  var refreshing = false;
  var again = false;
  var timer = null;

  // Fetches this page again and swaps in every element marked data-live-region.
  function refresh() {
    if (refreshing) {
      again = true;
      return Promise.resolve();
    }
    refreshing = true;
    return fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html');
        document.querySelectorAll('[data-live-region][id]').forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (next) {
            var node = document.importNode(next, true);
            el.replaceWith(node);
            localize(node);
          }
        });
        applyFilter();
        document.dispatchEvent(new CustomEvent('downwatch:refreshed'));
      })
      .catch(function () {
        // Offline or a restart: the next event or the periodic refresh tries again.
      })
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          schedule(0);
        }
      });
  }

  function schedule(delay) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () {
      timer = null;
      refresh();
    }, delay);
  }

  if (document.body.hasAttribute('data-live')) {
    if (window.EventSource) {
      var events = new EventSource('/v1/events');
      ['service.level', 'incident.opened', 'incident.updated', 'incident.resolved'].forEach(function (kind) {
        events.addEventListener(kind, function () { schedule(300); });
      });
      window.addEventListener('pagehide', function () { events.close(); });
    }
    setInterval(function () { schedule(0); }, 60000);
  }

  // ---- The report button -----------------------------------------------------------------

  var TOKEN_KEY = 'downwatch.reporter';
  var memoryToken = null;

  function newToken() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  // One token per browser, so people behind one address count separately.
  function reporterToken() {
    try {
      var token = localStorage.getItem(TOKEN_KEY);
      if (!token || !/^[A-Za-z0-9_-]{8,128}$/.test(token)) {
        token = newToken();
        localStorage.setItem(TOKEN_KEY, token);
      }
      return token;
    } catch (e) {
      // Storage blocked: one token for this page's life.
      memoryToken = memoryToken || newToken();
      return memoryToken;
    }
  }

  var form = document.getElementById('report-form');

  function say(kind, text) {
    var result = document.getElementById('report-result');
    result.className = 'result ' + kind;
    result.textContent = text;
  }

  function clockIn(seconds) {
    return formatter('clock').format(new Date(Date.now() + seconds * 1000));
  }

  function answer(response, name) {
    if (response.status === 202) {
      say('ok', 'Counted. Thank you for reporting your problem with ' + name + '.');
      refresh();
      return null;
    }
    if (response.status === 200) {
      say('info', 'Already counted: you reported a problem with ' + name +
        ' recently, and each person counts once.');
      return null;
    }
    if (response.status === 429) {
      var wait = parseInt(response.headers.get('Retry-After'), 10);
      if (isNaN(wait) || wait < 1) wait = 60;
      say('warn', 'Slow down: too many reports from your network. Try again in ' + wait +
        ' seconds (at ' + clockIn(wait) + ').');
      return null;
    }
    return response.json().then(function (problem) {
      say('error', 'Your report could not be recorded: ' + (problem.detail || ('HTTP ' + response.status)));
    }, function () {
      say('error', 'Your report could not be recorded (HTTP ' + response.status + '). Please try again.');
    });
  }

  if (form) {
    var open = document.getElementById('report-open');
    var kinds = document.getElementById('report-kinds');
    var name = form.getAttribute('data-name');
    var hadResult = document.getElementById('report-result').textContent !== '';
    open.hidden = false;
    kinds.hidden = !hadResult;
    open.setAttribute('aria-expanded', String(hadResult));

    open.addEventListener('click', function () {
      var show = kinds.hidden;
      kinds.hidden = !show;
      open.setAttribute('aria-expanded', String(show));
      if (show) {
        var first = kinds.querySelector('button');
        if (first) first.focus();
      }
    });

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = event.submitter || document.activeElement;
      if (!button || !button.value) return;
      var buttons = kinds.querySelectorAll('button');
      buttons.forEach(function (b) { b.disabled = true; });
      say('', 'Sending…');
      fetch('/v1/reports', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({
          service: form.getAttribute('data-service'),
          problem: button.value,
          reporter: reporterToken()
        })
      })
        .then(function (response) { return answer(response, name); })
        .catch(function () {
          say('error', 'Could not reach downwatch. Check your connection and try again.');
        })
        .then(function () {
          buttons.forEach(function (b) { b.disabled = false; });
        });
    });
  }

  localize(document);
  applyFilter();
})();
