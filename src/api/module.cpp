// (module api: sources arrive with its issue)
