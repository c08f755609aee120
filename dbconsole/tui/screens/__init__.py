"""Screens: the sync wizard, the inspector, the profile form, help, welcome and a yes/no question."""
