"""The AlimTalk dealer simulator (see app.py)."""
