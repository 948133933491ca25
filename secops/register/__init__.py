"""The level-dossier register and the annual report (Decree 331/2026 Form 08) built from it."""
