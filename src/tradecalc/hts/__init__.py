"""Official tariff lines as base rates: the US HTS (parse, store, bundled history) and China's
tariff lines, behind one provider interface."""
