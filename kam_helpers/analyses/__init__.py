"""What the KPIs mean: health score, forecast, invoice audit, renewal, white space, last QBR's commitments, root causes."""
