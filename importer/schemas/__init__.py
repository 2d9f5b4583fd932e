"""Shared definitions: the API's fields and formats, the column aliases, the planning models.

Both the importer's pipeline and the sandbox server import from here, and from nowhere else
in each other, so that the sandbox can never agree with the client by sharing its code.
"""
