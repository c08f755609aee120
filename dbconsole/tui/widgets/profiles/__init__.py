from dbconsole.tui.widgets.profiles.pane import ProfileList, ProfileStatus, ProfilesPane, pair_line

__all__ = ["ProfileList", "ProfileStatus", "ProfilesPane", "pair_line"]
