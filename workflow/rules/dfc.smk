# Rules of the dfc stage.
