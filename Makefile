# Cryo: the developers' entry points. `make test` and `make conformance` set up and run everything.
MVN      ?= mvn -B -q
ENGINE   ?=
SANDBOX  ?=
SEED     ?=
QUICK    ?=

.PHONY: build test fixtures conformance bench clean

build:
	$(MVN) -DskipTests install

fixtures:
	$(MAKE) -C fixtures-c

test: fixtures
	$(MVN) install

conformance: build fixtures
	$(MVN) -pl conformance exec:java -Dexec.mainClass=dev.cryo.conformance.Main \
	  -Dexec.args="$(if $(ENGINE),--engine=$(ENGINE)) $(if $(SANDBOX),--sandbox=$(SANDBOX)) $(if $(SEED),--seed=$(SEED))"

bench: build fixtures
	$(MVN) -pl bench exec:java -Dexec.mainClass=dev.cryo.bench.Main -Dexec.args="$(if $(QUICK),--quick)"

clean:
	$(MVN) clean
	$(MAKE) -C fixtures-c clean
