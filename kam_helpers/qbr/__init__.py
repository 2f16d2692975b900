"""The QBR itself: its outline, the narrative wording, the charts and the report object the notebook displays."""
