-- Argo CD health check for ml.jobreset.io/JobReset (install: deploy/argocd/README.md).
-- A JobReset is one reset: Healthy once Completed, Degraded once Failed, Progressing while
-- the operator works on it or has not seen the latest generation yet.
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick the JobReset up"
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local reason = status.reason or status.phase
local message = status.message or ""
if status.phase == "Completed" then
  hs.status = "Healthy"
elseif status.phase == "Failed" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = status.phase .. " (" .. reason .. "): " .. message
return hs
