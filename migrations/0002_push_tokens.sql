CREATE TABLE `push_tokens` (
	`account_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`platform` text NOT NULL,
	`token` text NOT NULL,
	`apns_environment` text,
	`p256dh` text,
	`auth` text,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `device_id`)
);
