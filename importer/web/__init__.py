"""The web page (``ocean-import serve``)."""
