// (module daemon: sources arrive with its issue)
