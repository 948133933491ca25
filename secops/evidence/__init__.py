"""Protection evidence from anti-malware consoles: export readers, profiles, matching, the import."""
