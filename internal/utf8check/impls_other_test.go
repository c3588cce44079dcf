package utf8check

func asmImpls() []impl { return nil }
