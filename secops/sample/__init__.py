"""The synthetic two-tier province (inventory, register and requirements together), labelled synthetic everywhere."""
