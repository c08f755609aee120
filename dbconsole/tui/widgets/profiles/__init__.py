from dbconsole.tui.widgets.profiles.pane import ProfileList, ProfileStatus, ProfilesPane

__all__ = ["ProfileList", "ProfileStatus", "ProfilesPane"]
