"""What auditors and reviewers read: replays, reports, policy impact, deadlines, HTML pages.

- ``replay``: a case as it stood at any moment, from the log, with its checks;
- ``reports``: intake and outcomes; ``impact``: recorded decisions under a candidate policy;
- ``deadlines``: the clock that records missed pathway targets;
- ``html_pages``: the timeline, report and impact pages (escaped, with a strict CSP);
- ``chromium``: screenshots of those pages with headless Chromium.
"""
