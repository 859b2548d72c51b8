"""``cnnzoo report``: one static HTML site of every network, figure and result, regenerated from
the code (:mod:`cnnzoo.report.site`), and its check in a headless browser
(:mod:`cnnzoo.report.browser`)."""
