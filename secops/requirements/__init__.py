"""Level requirements as checklists (issue 11): catalogues, per-system status history, automated
evidence from secops' own runs, and the plan-deployment roll-up."""
