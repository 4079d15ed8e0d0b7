# cmake -DSOURCE=cmake/deb/changelog -DVERSION=0.1.0-2 -DOUT=.../changelog.Debian.gz -P this
# Writes SOURCE, gzip -9n, to OUT. When the newest entry of SOURCE is not VERSION (a rebuild with
# a bumped Debian revision), an entry for VERSION goes on top, dated now (or SOURCE_DATE_EPOCH),
# and in any case at least a second after the newest entry (lintian:
# latest-changelog-entry-without-new-date).
foreach(var SOURCE VERSION OUT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "changelog.cmake: ${var} is not set")
  endif()
endforeach()
file(READ ${SOURCE} text)
if(NOT text MATCHES "^([a-z0-9.+-]+) \\(([^)]+)\\) ([a-z]+); urgency=[a-z]+\n")
  message(FATAL_ERROR "${SOURCE}: the first line is not a Debian changelog entry header")
endif()
set(source_package ${CMAKE_MATCH_1})
set(newest ${CMAKE_MATCH_2})
set(distribution ${CMAKE_MATCH_3})
if(NOT newest STREQUAL VERSION)
  if(NOT text MATCHES "\n -- ([^\n]+>)  ")
    message(FATAL_ERROR "${SOURCE}: no maintainer line")
  endif()
  set(maintainer ${CMAKE_MATCH_1})
  if(NOT text MATCHES "\n -- [^\n]+>  ([^\n]+)\n")
    message(FATAL_ERROR "${SOURCE}: no date on the maintainer line")
  endif()
  set(newest_date ${CMAKE_MATCH_1})
  execute_process(COMMAND date -u -d "${newest_date}" +%s OUTPUT_VARIABLE newest_epoch
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  if(DEFINED ENV{SOURCE_DATE_EPOCH})
    set(epoch $ENV{SOURCE_DATE_EPOCH})
  else()
    string(TIMESTAMP epoch "%s" UTC)
  endif()
  if(NOT epoch GREATER newest_epoch)
    math(EXPR epoch "${newest_epoch} + 1")
  endif()
  execute_process(COMMAND date -u -R -d "@${epoch}" OUTPUT_VARIABLE date
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  string(CONCAT text "${source_package} (${VERSION}) ${distribution}; urgency=medium\n\n"
                "  * Rebuild of ${newest} as ${VERSION}.\n\n -- ${maintainer}  ${date}\n\n"
                "${text}")
endif()
get_filename_component(out_dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${out_dir})
string(REGEX REPLACE "\\.gz$" "" plain ${OUT})
file(WRITE ${plain} "${text}")
execute_process(COMMAND gzip -9nf ${plain} COMMAND_ERROR_IS_FATAL ANY)
