"""Level requirements as checklists: catalogues, per-system status history, automated
evidence from secops' own runs, and the plan-deployment roll-up."""
