"""llmotel's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6 schema, classic JSON).

``python -m grafana.dashgen`` writes grafana/dashboards/*.json; ``--check`` exits 1 when the
committed JSON differs from what the code generates. One module per dashboard; the shared
building blocks (datasources, variables, selectors, panel styles, links) live in ``core``.
"""
