"""KPIs of one account and quarter: rating shipments against the rate card, the KPIs, targets and RAG, the scorecard."""
