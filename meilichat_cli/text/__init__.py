"""Text handling with no I/O: the sanitizer for untrusted text and document templates.

Standard library only. Must not import any other meilichat package but `errors`.
"""
