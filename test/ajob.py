"""The 2012 example job: reads its own job file and writes one line to its logfile."""
import sys
from configparser import ConfigParser

conf = ConfigParser()
conf.read(sys.argv[1])
logfile = conf.get("control", "logfile")
param = conf.get("params", "param1")
with open(logfile, "w") as log:
    log.write("This was done with parameter param1:%s." % param)
