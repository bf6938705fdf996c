# Issue 14, the config file: docs/config.md is generated from its pydantic models (`make
# config-doc` rewrites it; tests/test_config_doc.py fails when it is out of date).
.PHONY: config-doc

config-doc: $(STAMP)
	$(BIN)/python -m supervisord_lite.config.doc docs/config.md
